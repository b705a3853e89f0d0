"""`switchboard serve --workers N`: refused in one line (exit 2) unless it can be a cluster; each worker
binds the public port with SO_REUSEPORT, so several processes serve one port and the port keeps
answering when one of them is gone. The cluster itself (N workers on PostgreSQL + Redis) is driven in
tests/test_cluster_e2e.py."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from server.cli import main
from server.workers import worker_argv
from tests.conftest import wait_until
from tests.server_process import ROOT, free_port, write_config


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--workers", "2"], "needs PostgreSQL and Redis"),
        (["--workers", "2", "--database-url", "postgresql://127.0.0.1/test"], "--redis-url"),
        (["--workers", "2", "--storage", "sqlite"], "--database-url"),
        (["--workers", "0"], "at least 1"),
        (["--workers", "3", "--port", "0", "--database-url", "postgresql://x/y", "--redis-url", "redis://x"], "--port"),
    ],
)
def test_workers_without_a_cluster_are_refused_in_one_line(flags, message, capsys):
    try:
        code = main(["serve", *flags])
    except SystemExit as exc:  # argparse: a flag this branch does not know yet (--redis-url before the core)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    if "unrecognized arguments" not in err:
        assert message in err and err.count("\n") == 1, err


def test_worker_argv_drops_workers_and_asks_for_reuse_port():
    assert worker_argv(["--workers", "3", "--port", "9000", "--workers=2", "--x"]) == ["--port", "9000", "--x", "--reuse-port"]


def test_reuse_port_workers_share_one_port(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/ok"
    config = write_config(tmp_path)
    procs = []
    try:
        for index in range(2):
            log = open(tmp_path / f"worker-{index}.log", "wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--port", str(port),
                 "--storage", "memory", "--log-level", "warning", "--reuse-port"],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            ))
        for proc, index in zip(procs, range(2)):
            announced = lambda: f"ready on http://127.0.0.1:{port}" in (tmp_path / f"worker-{index}.log").read_text()  # noqa: E731
            wait_until(lambda: proc.poll() is not None or announced(), timeout=60, interval=0.05)
            assert proc.poll() is None, (tmp_path / f"worker-{index}.log").read_text()
        assert httpx.get(url, timeout=5).status_code == 200
        procs[0].kill()
        procs[0].wait(timeout=30)
        for _ in range(10):  # new connections: all land on the worker left
            assert httpx.get(url, timeout=5).status_code == 200
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
