"""The yardstick for bench_vs_noop.py: a Flask app that reads the hook call's body and answers no cards.

Run by gunicorn on the same worker class, workers and threads as b12-cds, it shows what the web stack
alone costs on this machine, so the service's own cost per call can be read off as a ratio.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def call(service_id: str):
    request.get_data()  # read the body as the service must
    return jsonify({"cards": []})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
