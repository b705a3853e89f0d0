"""What the tests that drive JS clients share: the npm packages of tests/js (installed on first use,
again whenever tests/js/package.json changes) and a real `switchboard serve` on a free port."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js"


def require(tool: str) -> str:
    """The path of `tool`; CI must have it (.ci/run installs it), elsewhere the test is skipped."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def ensure_js_packages() -> Path:
    """tests/js/node_modules, installed with npm from tests/js/package.json when missing or stale."""
    require("node")
    npm = require("npm")
    stamp = JS / "node_modules" / ".switchboard-installed"
    wanted = hashlib.sha1((JS / "package.json").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, f"npm install in tests/js failed:\n{result.stdout}\n{result.stderr}"
        stamp.write_text(wanted)
    return JS / "node_modules"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def switchboard_serving(config: Path, *extra: str) -> Iterator[str]:
    """`switchboard serve --config config` (memory storage) on a free port until the block ends; yields its URL.
    Its output goes to a file (a pipe nobody reads once it is up could fill and stall the server)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile("w+", prefix="switchboard-", suffix=".log") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--port", str(port),
             "--storage", "memory", *extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            def ready() -> bool:
                output = Path(log.name).read_text()
                assert process.poll() is None, f"switchboard serve exited:\n{output}"
                return f"switchboard ready on {url}" in output

            wait_until(ready, timeout=60, interval=0.05)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
