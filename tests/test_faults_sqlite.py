"""Fault injection on SQLite: the data directory's disk fills up under load-test traffic (a small
tmpfs, so root is needed), and `kill -9` hits the server during start-up recovery itself.

On a full disk, writes get a fast 503 with Retry-After (reads still work) and `/ok` says the
database is unhealthy; once space is freed the server carries on by itself, and every accepted run
is terminal, no thread is `busy`, nothing accepted is lost. A kill during recovery loses nothing
either: the next start finishes the job."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from actors import Settings
from actors.models import Run, Thread, graph_assistant_id, new_id
from actors.kernel.runtime import GraphLoop
from actors.storage import open_storage
from loadtest.checker import check
from loadtest.harness import Harness, Workload
from loadtest.targets import ServerProcess
from tests.conftest import wait_until
from tests.server_process import ROOT, free_port, write_config
from tests.test_faults_postgres import DATABASE_ERRORS, TERMINAL, _errors_of_failed_runs, healthy, until

DISK_MB = 48


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_sqlite_full_disk_under_load_answers_503_and_recovers(small_disk: Path):
    workload = Workload(
        threads=8, arrival="open", rate=25, duration=12, total_runs=100_000, steps=3, step_duration=0.05,
        mix={"enqueue": 60, "interrupt": 30, "reject": 10}, stream_prob=0.2, seed=11,
    )
    data_dir = small_disk / "data"
    server = ServerProcess(storage="sqlite", data_dir=str(data_dir), extra_args=("--storage-patience", "0.5"))
    with server:

        async def scenario():
            harness = Harness(server.target(), workload)
            load = asyncio.create_task(harness.run())
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await until(lambda: _at_least(harness, 15), 30, "runs accepted before the disk fills")
                thread_id = harness.history.accepted()[0].thread
                filler = await asyncio.to_thread(fill, small_disk)
                # Writes fail as soon as SQLite needs a new page; keep writing until one is refused.
                await until(lambda: _refused(http), 30, "a write refused on the full disk")
                probes = await _probe(http, thread_id, seconds=2.0)
                filler.unlink()
                await until(lambda: healthy(http), 30, "the server writes again")
                history = await load
                await until(lambda: _no_busy_threads(http), 30, "no thread busy")
                errors = await _errors_of_failed_runs(http, history)
            return history, probes, errors

        history, probes, errors = asyncio.run(scenario())

    statuses = Counter(history.final_status.values())
    assert set(statuses) <= TERMINAL, f"accepted runs not terminal: {statuses}"
    assert {op.run for op in history.accepted()} == set(history.final_status), "an accepted run was lost"
    others = [v for v in check(history) if v.rule not in {"request-error", "run-error"} or
              (v.rule == "request-error" and "storage unavailable" not in v.message)]
    assert others == [], "\n".join(map(str, others))
    assert all(e["error"] in DATABASE_ERRORS for e in errors), errors
    by_kind = Counter((what, status) for what, status, _ in probes)
    assert by_kind[("create thread", 503)] > 0 and by_kind[("ok", 503)] > 0, by_kind
    assert by_kind[("read thread", 200)] > 0 and not by_kind[("read thread", 503)], by_kind  # reads still work
    assert {status for _, status, _ in probes} <= {200, 503}, by_kind
    slowest = max(latency for _, _, latency in probes)
    print(f"\nwhile the disk was full: {dict(by_kind)}, slowest {slowest * 1000:.0f} ms; runs {dict(statuses)}")
    assert slowest < 2.0, f"a request took {slowest:.1f}s on the full disk"


async def _at_least(harness: Harness, n: int) -> bool:
    return len(harness.history.accepted()) >= n


async def _refused(http: httpx.AsyncClient) -> bool:
    response = await http.post("/threads", json={"metadata": {"padding": "x" * 4000}})
    return response.status_code == 503


async def _no_busy_threads(http: httpx.AsyncClient) -> bool:
    response = await http.post("/threads/search", json={"status": "busy", "limit": 100})
    return response.status_code == 200 and response.json() == []


async def _probe(http: httpx.AsyncClient, thread_id: str, seconds: float) -> list[tuple[str, int, float]]:
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for what, send in (
            ("create thread", lambda: http.post("/threads", json={})),
            ("read thread", lambda: http.get(f"/threads/{thread_id}")),
            ("ok", lambda: http.get("/ok")),
        ):
            started = time.monotonic()
            response = await send()
            seen.append((what, response.status_code, time.monotonic() - started))
    return seen


# --- kill -9 during start-up recovery ----------------------------------------------------------------

THREADS = 1500


def _seed(data_dir: Path) -> dict[str, str]:
    """A data dir as a crash under load leaves it: every thread `busy` with a `running` run and a
    `pending` one behind it (half of them `interrupt`). Returns run id -> the status recovery owes it."""
    runtime = GraphLoop(2)
    storage = open_storage(Settings(storage="sqlite", data_dir=str(data_dir)), runtime)
    owed = {}
    try:
        for i in range(THREADS):
            thread = Thread(thread_id=new_id(), status="busy", metadata={"graph_id": "one"})
            storage.create_thread(thread)
            running = Run(run_id=new_id(), thread_id=thread.thread_id, assistant_id=graph_assistant_id("one"), status="running")
            strategy = "interrupt" if i % 2 else "enqueue"
            pending = Run(run_id=new_id(), thread_id=thread.thread_id, assistant_id=running.assistant_id,
                          status="pending", multitask_strategy=strategy)
            storage.put_run(running)
            storage.put_run(pending)
            owed[running.run_id] = "interrupted" if strategy == "interrupt" else "error"
            owed[pending.run_id] = "terminal"
    finally:
        runtime.call(storage.aclose())
        storage.close()
        runtime.stop()
    return owed


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchone()[0]


def test_kill_during_recovery_loses_nothing(tmp_path: Path):
    data_dir = tmp_path / "data"
    owed = _seed(data_dir)
    records = data_dir / "switchboard.db"
    running = "SELECT count(*) FROM records WHERE kind = 'run' AND status = 'running'"
    assert _count(records, running) == THREADS
    cmd = [sys.executable, "-m", "server.cli", "serve", "--config", str(write_config(tmp_path)),
           "--port", str(free_port()), "--data-dir", str(data_dir), "--log-level", "warning"]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Kill it as soon as recovery has ended some runs, but not all of them.
        wait_until(lambda: _count(records, running) < THREADS, timeout=60, interval=0.002)
        first.kill()
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    left = _count(records, running)
    assert 0 < left < THREADS, f"the kill did not land during recovery ({left} runs still running)"

    port = free_port()
    cmd[cmd.index("--port") + 1] = str(port)
    second = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(url), timeout=120, interval=0.1)
        not_done = "SELECT count(*) FROM records WHERE kind = 'run' AND status IN ('pending', 'running')"
        wait_until(lambda: _count(records, not_done) == 0, timeout=120, interval=0.1)
        wait_until(lambda: _count(records, "SELECT count(*) FROM records WHERE kind = 'thread' AND status = 'busy'") == 0,
                   timeout=30, interval=0.1)
        statuses = {}
        with sqlite3.connect(f"file:{records}?mode=ro", uri=True) as conn:
            for key, status in conn.execute("SELECT key, status FROM records WHERE kind = 'run'"):
                statuses[key] = status
        assert set(statuses) == set(owed), "a run was lost or made up"
        for run_id, status in owed.items():
            if status == "terminal":
                assert statuses[run_id] in TERMINAL
            else:
                assert statuses[run_id] == status, (run_id, statuses[run_id], status)
    finally:
        second.terminate()
        second.wait(timeout=60)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ok", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
