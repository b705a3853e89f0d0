"""Fault injection on PostgreSQL: a private cluster (tests/pg_cluster.py) stopped and restarted under
load-test traffic. While it is away the server answers 503 with Retry-After at once (never a hang,
never a 500) and `/ok` says so; when it is back the server recovers by itself: every accepted run is
terminal, no thread stays `busy`, nothing accepted is lost, and every thread takes new runs. The
server's schema lock survives the restart: a second server still cannot start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter

import httpx
import psycopg
import pytest

from actors.storage.postgres import MIGRATION_LOCK
from loadtest.checker import check
from loadtest.graph import GRAPH_ID
from loadtest.harness import Harness, Workload
from loadtest.targets import ServerProcess
from tests.conftest import wait_until
from tests.pg_cluster import PrivateCluster, server_binaries
from tests.server_process import ROOT, free_port, write_config

pytestmark = pytest.mark.skipif(server_binaries() is None, reason="no PostgreSQL server binaries installed")

TERMINAL = {"success", "error", "interrupted", "timeout"}


@pytest.fixture
def cluster():
    cluster = PrivateCluster()
    cluster.start(first=True)
    try:
        yield cluster
    finally:
        cluster.destroy()


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def healthy(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/ok", params={"check_db": 1})).status_code == 200
    except httpx.HTTPError:
        return False


async def probe_while_down(http: httpx.AsyncClient, seconds: float) -> list[tuple[str, int, float, dict]]:
    """Requests of each kind, one after another, for `seconds`: (what, status, latency, headers)."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for what, send in (
            ("create thread", lambda: http.post("/threads", json={})),
            ("search threads", lambda: http.post("/threads/search", json={})),
            ("ok", lambda: http.get("/ok")),
        ):
            started = time.monotonic()
            response = await send()
            seen.append((what, response.status_code, time.monotonic() - started, dict(response.headers)))
    return seen


@pytest.mark.parametrize(
    "outage, patience",
    # Within: thread actors wait the outage out. Beyond (longer than a checkpoint write's 3 s wait
    # for a connection, plus the patience): actors give up on messages and repair their threads.
    [(3.0, "5"), (7.0, "0.5")],
    ids=["outage-within-patience", "outage-beyond-patience"],
)
def test_postgres_outage_under_load_answers_503_and_recovers(cluster, outage, patience):
    workload = Workload(
        threads=8, arrival="open", rate=25, duration=outage + 5, total_runs=100_000, steps=3,
        step_duration=0.05, mix={"enqueue": 60, "interrupt": 30, "reject": 10}, stream_prob=0.2, seed=5,
    )
    server = ServerProcess(storage="postgres", database_url=cluster.url, extra_args=("--storage-patience", patience))
    with server:

        async def scenario():
            harness = Harness(server.target(), workload)
            load = asyncio.create_task(harness.run())
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await until(lambda: _at_least(harness, 15), 30, "runs accepted before the outage")
                await asyncio.to_thread(cluster.stop, "fast")
                probes = await probe_while_down(http, outage)
                await asyncio.to_thread(cluster.start)
                await until(lambda: healthy(http), 30, "the server sees the database again")
                history = await load
                await until(lambda: _no_busy_threads(http), 30, "no thread busy")
                fresh = await _one_more_run_on_each_thread(http, list(history.final_done))
                errors = await _errors_of_failed_runs(http, history)
            return history, probes, fresh, errors

        history, probes, fresh, errors = asyncio.run(scenario())

    statuses = Counter(history.final_status.values())
    # The multitask rules held. The only complaints: requests refused while the database was away,
    # and runs that failed because it was (a checkpoint write failed, or their end could not be
    # recorded in time): each says so.
    expected = {"request-error", "run-error"}
    others = [v for v in check(history) if v.rule not in expected or
              (v.rule == "request-error" and "storage unavailable" not in v.message)]
    assert others == [], "\n".join(map(str, others))
    assert all(e["error"] in DATABASE_ERRORS for e in errors), errors
    assert set(statuses) <= TERMINAL, f"accepted runs not terminal: {statuses}"
    accepted = {op.run for op in history.accepted()}
    assert accepted == set(history.final_status), "an accepted run was lost"
    assert statuses["success"] > 0
    # While the database was away: fast 503s with Retry-After, no 500, no hang; /ok said so.
    by_status = Counter((what, status) for what, status, _, _ in probes)
    assert {status for _, status, _, _ in probes} <= {200, 503}, by_status
    assert by_status[("create thread", 503)] > 0 and by_status[("ok", 503)] > 0, by_status
    assert all("retry-after" in headers for _, status, _, headers in probes if status == 503)
    slowest = max(latency for _, _, latency, _ in probes)
    print(f"\nwhile PostgreSQL was down {outage:g} s: {dict(by_status)}, slowest {slowest * 1000:.0f} ms; runs {dict(statuses)}")
    assert slowest < 4.0, f"a request took {slowest:.1f}s while the database was away"
    assert fresh == ["success"] * len(fresh)


DATABASE_ERRORS = {"StorageUnavailable", "OperationalError", "PoolTimeout", "AdminShutdown", "DatabaseUnavailable"}


async def _errors_of_failed_runs(http: httpx.AsyncClient, history) -> list[dict]:
    errors = []
    for op in history.accepted():
        if history.final_status.get(op.run) == "error":
            output = (await http.get(f"/threads/{op.thread}/runs/{op.run}/join")).json()
            errors.append(output["__error__"])
    return errors


async def _at_least(harness: Harness, n: int) -> bool:
    return len(harness.history.accepted()) >= n


async def _no_busy_threads(http: httpx.AsyncClient) -> bool:
    response = await http.post("/threads/search", json={"status": "busy", "limit": 100})
    return response.status_code == 200 and response.json() == []


async def _one_more_run_on_each_thread(http: httpx.AsyncClient, threads: list[str]) -> list[str]:
    statuses = []
    for thread_id in threads:
        body = {"assistant_id": GRAPH_ID, "input": {"steps": 1, "delay": 0.01}}
        response = await http.post(f"/threads/{thread_id}/runs/wait", json=body)
        assert response.status_code == 200, response.text
        run = (await http.get(f"/threads/{thread_id}/runs", params={"limit": 1})).json()[0]
        statuses.append(run["status"])
    return statuses


def _serve(url: str, workdir) -> subprocess.CompletedProcess[str]:
    """A second server on the same database: it must refuse to start (exit status 2)."""
    cmd = [sys.executable, "-m", "server.cli", "serve", "--config", str(write_config(workdir)),
           "--port", str(free_port()), "--database-url", url]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def _lock_holders(cluster: PrivateCluster) -> list[int]:
    rows = cluster.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted")
    return [pid for (pid,) in rows]


def test_schema_lock_is_taken_again_after_a_restart(cluster, tmp_path):
    with ServerProcess(storage="postgres", database_url=cluster.url) as server:
        [holder] = _lock_holders(cluster)
        cluster.stop("fast")
        cluster.start()
        # The server takes its lock again on its own (no request needed)...
        wait_until(lambda: bool(_lock_holders(cluster)), timeout=15, interval=0.05)
        assert _lock_holders(cluster) != [holder]
        # ...so a second server still cannot start on the database,
        second = _serve(cluster.url, tmp_path)
        assert second.returncode == 2 and "in use by another switchboard process" in second.stderr, second.stderr
        # ...and the first one serves again (a write that met a dead connection first was a 503).
        wait_until(lambda: httpx.get(f"{server.url}/ok", params={"check_db": 1}, timeout=10).status_code == 200,
                   timeout=15, interval=0.05)
        assert httpx.post(f"{server.url}/threads", json={}, timeout=10).status_code == 200


def test_server_that_lost_its_lock_refuses_to_write(cluster):
    with ServerProcess(storage="postgres", database_url=cluster.url) as server:
        assert httpx.post(f"{server.url}/threads", json={}, timeout=10).status_code == 200
        [holder] = _lock_holders(cluster)
        with psycopg.connect(cluster.url, autocommit=True) as thief:
            # Another process takes the lock the moment the server's session is gone.
            thief.execute("SELECT pg_terminate_backend(%s)", (holder,))
            take = "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))"
            wait_until(lambda: thief.execute(take, (MIGRATION_LOCK,)).fetchone()[0], timeout=10, interval=0.001)
            threads_before = cluster.execute("SELECT count(*) FROM records WHERE kind = 'thread'")[0][0]
            wait_until(lambda: httpx.get(f"{server.url}/ok", timeout=10).status_code == 503, timeout=15, interval=0.05)
            response = httpx.post(f"{server.url}/threads", json={}, timeout=10)
            assert response.status_code == 503 and "another switchboard process" in response.json()["detail"]
            ok = httpx.get(f"{server.url}/ok", timeout=10).json()
            assert ok["ok"] is False and ok["services"] == {"database": "unhealthy"}
            assert cluster.execute("SELECT count(*) FROM records WHERE kind = 'thread'")[0][0] == threads_before
