"""The two servers of the differential test: the reference (`langgraph dev`, in its own venv) and
switchboard, each a subprocess on a free loopback port serving tests/differential/graphs.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GRAPHS_FILE = HERE / "graphs.py"
GRAPH_IDS = ("plain", "nested", "hitl", "nested_hitl", "chat", "nested_chat", "custom", "echo")

REFERENCE_VENV = ROOT / ".venv-reference"
# The versions the differences in docs/differences.md were measured against (issue 10: langgraph-api
# 0.16.7). langgraph and langchain-core are pinned to what switchboard's own venv resolves, so both
# servers run the graphs on the same library versions.
REFERENCE_PINS = (
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    "langgraph==1.2.24",
    "langchain-core==1.8.3",
)
REFERENCE_STAMP = REFERENCE_VENV / (".installed-" + "-".join(p.split("==")[1] for p in REFERENCE_PINS))


def reference_binary() -> Path | None:
    """The reference's `langgraph` binary: $SWITCHBOARD_REFERENCE_LANGGRAPH, else .venv-reference/."""
    named = os.environ.get("SWITCHBOARD_REFERENCE_LANGGRAPH")
    if named:
        return Path(named) if Path(named).exists() else None
    binary = REFERENCE_VENV / "bin" / "langgraph"
    return binary if REFERENCE_STAMP.exists() and binary.exists() else None


def install_reference() -> Path:
    """Install the pinned reference server into .venv-reference/ (git-ignored); returns its binary."""
    if not (REFERENCE_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], check=True)
    pip = [str(REFERENCE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, *REFERENCE_PINS], check=True)
    for stale in REFERENCE_VENV.glob(".installed-*"):
        stale.unlink()
    REFERENCE_STAMP.touch()
    return REFERENCE_VENV / "bin" / "langgraph"


def write_config(directory: Path) -> Path:
    """langgraph.json naming the graphs by absolute path (the reference resolves paths against its cwd)."""
    config = {"dependencies": [str(HERE)], "graphs": {g: f"{GRAPHS_FILE}:{g}" for g in GRAPH_IDS}}
    path = directory / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess; `start()` returns once `/ok` answers."""

    def __init__(self, name: str, cmd: list[str], cwd: Path, env: dict[str, str], port: int) -> None:
        self.name, self.cmd, self.cwd, self.env, self.port = name, cmd, cwd, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Server:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass  # not listening yet: poll again until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def reference_server(binary: Path, scratch: Path) -> Server:
    port = free_port()
    cmd = [str(binary), "dev", "--no-browser", "--no-reload", "--n-jobs-per-worker", "10",
           "--host", "127.0.0.1", "--port", str(port), "--config", str(write_config(scratch))]
    env = {**os.environ, "LANGSMITH_TRACING": "false", "LANGGRAPH_RUNTIME_EDITION": "inmem"}
    env.pop("VIRTUAL_ENV", None)
    return Server("reference", cmd, scratch, env, port)


def switchboard_server(scratch: Path) -> Server:
    """switchboard from this checkout, or from the one $SWITCHBOARD_DIFF_SOURCE names (to see what
    another branch changes, with this checkout's scenarios and list)."""
    port = free_port()
    source = os.environ.get("SWITCHBOARD_DIFF_SOURCE", str(ROOT))
    cmd = [sys.executable, "-m", "server.cli", "serve", "--storage", "memory", "--port", str(port),
           "--config", str(write_config(scratch))]
    env = {**os.environ, "PYTHONPATH": source}
    return Server("switchboard", cmd, scratch, env, port)


def scratch_dir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"switchboard-differential-{name}-"))


if __name__ == "__main__":
    # `python -m tests.differential.servers --install`: what .ci/run calls before the suite.
    if "--install" in sys.argv and reference_binary() is None:
        print(f"installing the reference server into {REFERENCE_VENV}: {' '.join(REFERENCE_PINS)}")
        install_reference()
    print(reference_binary() or "no reference server")
