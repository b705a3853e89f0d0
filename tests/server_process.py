"""`switchboard serve` as a real subprocess on a free port, for crash and shutdown tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent
STEPS = ROOT / "tests" / "graphs" / "steps.py"


def write_config(directory: Path) -> Path:
    config = directory / "langgraph.json"
    graphs = {"steps": f"{STEPS}:async_graph", "one": f"{STEPS}:one_step"}
    config.write_text(json.dumps({"graphs": graphs}))
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, workdir: Path, storage_args: list[str], *extra: str, config: Path | None = None) -> None:
        self.workdir = workdir
        self.config = config  # a langgraph.json; by default one serving the step graphs
        self.args = storage_args + list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self) -> ServerProcess:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.starts += 1
        self.log = self.workdir / f"server-{self.starts}.log"
        cmd = [
            sys.executable, "-m", "server.cli", "serve", "--config", str(self.config or write_config(self.workdir)),
            "--port", str(port), "--log-level", "warning", *self.args,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._ready, timeout=60, interval=0.05)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
