"""The b12-cds console command."""

from __future__ import annotations

from click.testing import CliRunner

from cds_service import cli


def test_serve_runs_gunicorn_with_the_configured_workers_and_threads(monkeypatch, tmp_path):
    started = {}

    class FakeGunicorn:
        def __init__(self, app, options):
            started.update(app=app, options=options)

        def run(self):
            started["ran"] = True

    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    result = CliRunner().invoke(cli.main, ["serve", "--port", "9999", "--workers", "3", "--threads", "4"], env=env)
    assert result.exit_code == 0, result.output
    assert started["ran"]
    options = started["options"]
    assert (options["bind"], options["workers"], options["threads"]) == ("127.0.0.1:9999", 3, 4)
    assert options["worker_class"] == "gthread"
    assert "%(q)s" not in options["access_log_format"]  # query strings may name patients: never logged


def test_serve_refuses_to_start_with_a_clear_message_when_misconfigured(tmp_path):
    result = CliRunner().invoke(cli.main, ["serve"], env={"CDS_AUTH_REQUIRED": "true"})
    assert result.exit_code != 0
    assert "PUBLIC_BASE_URL" in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
