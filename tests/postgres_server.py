"""Start a throw-away PostgreSQL server on loopback for the tests (initdb, trust auth, no fsync).

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` OS user (which the
Debian ``postgresql`` package creates), in a directory of its own under the system temp directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fhir_server import free_port

#: Debian's layout (postgresql-NN), then whatever initdb is on PATH.
BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")


def find_bin_dir() -> Path | None:
    """Return the newest directory holding initdb and postgres, or None when the server is not installed."""
    candidates = [Path(path) for pattern in BIN_GLOBS for path in glob.glob(pattern)]
    candidates.sort(key=lambda path: [int(part) for part in path.parent.name.split("-")[-1].split(".")
                                      if part.isdigit()] or [0], reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


@dataclass
class PostgresServer:
    """A server on 127.0.0.1:``port`` that can be stopped and started again on the same data."""

    port: int
    command: list[str]
    user: pwd.struct_passwd | None
    log: Path
    process: subprocess.Popen | None = None

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of a database on this server (trust authentication: no password)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, seconds: float = 30.0) -> None:
        """Run postgres and return once it accepts connections."""
        with self.log.open("a") as output:
            self.process = subprocess.Popen(self.command, stdout=output, stderr=subprocess.STDOUT,
                                            **_user_options(self.user))
        _wait_until_ready(self, seconds)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, nothing waits for clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def running_postgres(bin_dir: Path) -> Iterator[PostgresServer]:
    """initdb a fresh cluster, run postgres on 127.0.0.1:<free port>, yield it, then stop and delete it."""
    as_user = _server_user()
    # Not pytest's tmp_path: its parents are private to root, and the server user must reach the directory.
    workdir = Path(tempfile.mkdtemp(prefix="b12cds-postgres-"))
    try:
        data, sockets, log = workdir / "data", workdir / "sockets", workdir / "postgres.log"
        sockets.mkdir()
        log.touch()
        if as_user:
            for path in (workdir, sockets, log):
                shutil.chown(path, as_user.pw_uid, as_user.pw_gid)
        _run_as(as_user, [str(bin_dir / "initdb"), "--pgdata", str(data), "--username", "postgres",
                          "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"], log)
        port = free_port()
        settings = {"listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(sockets),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "200", "logging_collector": "off"}
        command = [str(bin_dir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        server = PostgresServer(port, command, as_user, log)
        try:
            server.start()
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _server_user() -> pwd.struct_passwd | None:
    """The OS user to run as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root, and there is no 'postgres' OS user to run PostgreSQL as "
                           "(the Debian postgresql package creates it)") from exc


def _user_options(user: pwd.struct_passwd | None) -> dict:
    if user is None:
        return {}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir, "LC_ALL": "C", "LANG": "C"}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env, "cwd": "/"}


def _run_as(user: pwd.struct_passwd | None, command: list[str], log: Path) -> None:
    with log.open("a") as output:
        result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, timeout=120,
                                check=False, **_user_options(user))
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}):\n{log.read_text()[-3000:]}")


def _wait_until_ready(server: PostgresServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if server.process is None or server.process.poll() is not None:
            raise RuntimeError(f"postgres exited early:\n{server.log.read_text()[-3000:]}")
        try:
            with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres",
                                 connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready within {seconds} s:\n{server.log.read_text()[-3000:]}") from exc
            time.sleep(0.1)


def start_or_give_up() -> Path:
    """The PostgreSQL binaries, or a skip (developer machine) / failure (CI) saying how to get them."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = ("PostgreSQL server binaries (initdb, postgres) not found: "
                   "`apt-get install postgresql` (.ci/run does this)")
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


def admin(server: PostgresServer) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", autocommit=True)
