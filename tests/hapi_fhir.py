"""Build and start our HAPI FHIR JPA server (tests/hapi_server: R4, in-memory H2) on loopback for the tests.

The build is Maven's (its local repository caches HAPI and its dependencies); it is skipped when the jar
is newer than the pom and the Java sources. A missing JDK 17+ or Maven is a reason to skip locally, and a
failure under CI (CI=true), where .ci/run installs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fhir_server import free_port, wait_until_up

PROJECT = Path(__file__).resolve().parent / "hapi_server"
JAR = PROJECT / "target" / "hapi-server.jar"
HEAP = "-Xmx768m"  # the machine is shared: HAPI on H2 with our fixtures needs far less
BUILD_SECONDS = 1800  # a fresh machine downloads HAPI's dependencies (~300 MB) first


def missing_tools() -> str | None:
    """Why the HAPI server cannot be built and run here, or None when java 17+ and mvn are on PATH."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (HAPI FHIR needs a JDK 17+ and Maven; .ci/run installs them)"
    version = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60).stderr
    found = re.search(r'version "(\d+)', version)
    if not found or int(found.group(1)) < 17:
        return f"HAPI FHIR 8 needs Java 17 or newer; java -version says: {version.strip()[:80]}"
    return None


def jar_is_current() -> bool:
    """True when the built jar is newer than the pom and every Java source."""
    if not JAR.exists():
        return False
    sources = [PROJECT / "pom.xml", *PROJECT.joinpath("src").rglob("*.java")]
    return JAR.stat().st_mtime > max(path.stat().st_mtime for path in sources)


def build(log_path: Path) -> Path:
    """Build the server jar with Maven unless it is current; return the jar."""
    if jar_is_current():
        return JAR
    with log_path.open("w") as log:
        done = subprocess.run(["mvn", "-B", "-q", "-f", str(PROJECT / "pom.xml"), "package"],
                              stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"building the HAPI FHIR server failed:\n{log_path.read_text()[-3000:]}")
    return JAR


@contextmanager
def running_hapi_server(workdir: Path, startup_seconds: float = 600.0) -> Iterator[str]:
    """Build if needed, run HAPI on 127.0.0.1; yield its FHIR base URL once /metadata answers; stop it."""
    jar = build(workdir / "maven.log")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    log_path = workdir / "hapi.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(["java", HEAP, "-jar", str(jar), "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "HAPI_PAGE_SIZE": "20"})
    try:
        # HAPI builds its CapabilityStatement on the first call: allow it time.
        wait_until_up(base, process, startup_seconds, log_path, name="HAPI FHIR", poll_timeout=60, interval=0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


