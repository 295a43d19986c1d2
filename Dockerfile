# syntax=docker/dockerfile:1
# b12-cds container image: `docker build -t b12-cds .` (docker-compose.yml builds it for the dev stack).
#
# Base image: the official Python image, pinned to a patch release on Debian 12 (bookworm), the same
# Python minor version as the README's quick start and CI. To pin the exact bytes as well, append the
# digest that `docker buildx imagetools inspect python:3.11.15-slim-bookworm` prints to both FROM lines
# (python:3.11.15-slim-bookworm@sha256:...); bump tag and digest together for security updates.
# Configuration is by CDS_* environment variables only (docs/settings.md).

# --- build: our wheel plus every dependency as a wheel (nothing is compiled: all are pure Python or
# --- ship manylinux wheels, psycopg's binary build included)
FROM python:3.11.15-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels ".[postgres]"

# --- runtime: the wheels installed offline, no build tools, a non-root user
FROM python:3.11.15-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="b12-cds" \
      org.opencontainers.image.description="CDS Hooks 2.0 service that protects patients from the nerve damage of vitamin B12 deficiency" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/b12-cds/b12-cds" \
      org.opencontainers.image.documentation="https://github.com/b12-cds/b12-cds#readme" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.15-slim-bookworm"

RUN groupadd --system --gid 10001 b12cds \
 && useradd --system --uid 10001 --gid b12cds --no-log-init --home-dir /var/lib/b12-cds --shell /usr/sbin/nologin b12cds \
 && mkdir -p /var/lib/b12-cds /tmp/b12-cds-metrics \
 && chown b12cds:b12cds /var/lib/b12-cds /tmp/b12-cds-metrics

# The wheels are mounted for this one step, so they never become a layer of the final image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    pip install --no-index --find-links=/wheels "b12-cds[postgres]"

# CDS_HOST: listen on every interface of the container (the CLI's default is loopback only).
# CDS_FEEDBACK_DATABASE_URL: the embedded SQLite file in the user's data directory (mount a volume at
# /var/lib/b12-cds to keep it); PostgreSQL for several instances, as docker-compose.yml does.
# PROMETHEUS_MULTIPROC_DIR: where prometheus-client's multiprocess mode keeps the gunicorn workers'
# metric files (a directory the service user owns).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8080 \
    CDS_FEEDBACK_DATABASE_URL=sqlite:////var/lib/b12-cds/feedback.sqlite3 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/b12-cds-metrics

USER b12cds:b12cds
WORKDIR /var/lib/b12-cds
EXPOSE 8080

# The slim image has no curl: the check is Python's own urllib, on the port the service listens on
# (CDS_PORT), ignoring any proxy variables. Exit 0 when /healthz answers 200, 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; port = os.environ.get('CDS_PORT', '8080'); r = u.build_opener(u.ProxyHandler({})).open(f'http://127.0.0.1:{port}/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# gunicorn (workers x threads from CDS_WORKERS, CDS_THREADS), in exec form so it receives SIGTERM.
CMD ["b12-cds", "serve"]
