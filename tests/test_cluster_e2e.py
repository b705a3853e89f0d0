"""Scale-out end to end (issue 12): real `switchboard serve` processes on one fresh PostgreSQL schema
and a private Redis behave as one server. The load-test harness spreads its requests over all of them
(each request to the next process, so a thread's runs, interrupts, rollbacks, joins and streams cross
processes) and its checker must find nothing wrong - also when a process is killed (`kill -9`) mid-burst,
paused past its lease (`SIGSTOP`, then `SIGCONT`: it writes nothing after waking), stopped with SIGTERM
(its threads are handed over at once), or when Redis is down. The benchmark graph journals the pid
that executed each step, which is how these tests see where a run executed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest
from langgraph_sdk import get_sync_client

from loadtest.checker import check
from loadtest.graph import CONFIG_PATH, GRAPH_ID, JOURNAL_ENV
from loadtest.harness import Harness, Workload
from loadtest.history import History
from loadtest.report import process_spread
from loadtest.targets import HttpTarget, new_journal
from tests.backends import postgres_schema
from tests.cluster_support import Cluster, Member, PrivateRedis
from tests.conftest import wait_until
from tests.nginx_proxy import Nginx
from tests.server_process import ROOT, free_port

pytestmark = pytest.mark.skipif(
    not (ROOT / "server" / "forwarding.py").exists() or not (ROOT / "actors" / "cluster" / "takeover.py").exists(),
    reason="the cluster core (forwarding, takeover) has not landed on this branch",
)

BURST = dict(threads=9, runs_per_thread=12, steps=3, step_duration=0.02, join_prob=0.3, stream_prob=0.2, seed=11)
LONG = {"steps": 1, "delay": 30.0}
ONE = {"steps": 1, "delay": 0.0}


def drive(target, workload: Workload, fault=None) -> History:
    """The harness against `target` (and `fault(harness)` beside it, on the same loop), to the end."""

    async def go():
        harness = Harness(target, workload)
        try:
            if fault is None:
                return await harness.run()
            history, _ = await asyncio.gather(harness.run(), fault(harness))
            return history
        finally:
            await target.aclose()

    return asyncio.run(go())


def journal(cluster: Cluster) -> list[dict]:
    text = cluster.journal.read_text() if cluster.journal.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def first_start(cluster: Cluster, run_id: str, timeout: float = 30.0) -> dict:
    found: list[dict] = []

    def started() -> bool:
        found[:] = [e for e in journal(cluster) if e["run"] == run_id and e["event"] == "start"]
        return bool(found)

    wait_until(started, timeout=timeout, interval=0.01)
    return found[0]


def assert_clean(history: History, cluster: Cluster) -> None:
    violations = check(history)
    assert violations == [], "\n".join(map(str, violations[:30])) + "\n" + cluster.logs()


def test_harness_over_three_processes_has_no_violations():
    with Cluster(3) as cluster:
        history = drive(cluster.target(), Workload(**BURST, v2_prob=0.1))
        assert_clean(history, cluster)
        statuses = Counter(history.final_status.values())
        strategies = Counter(op.strategy for op in history.accepted())
        assert statuses["success"] and statuses["interrupted"] and strategies["rollback"], (statuses, strategies)
        assert any(e.event == "cancel" for e in history.steps)
        # The threads' runs executed in several processes (each thread in its owner), and with every
        # request going to the next process, most double texts reached a process that forwarded them.
        assert process_spread(history)["count"] >= 2, process_spread(history)
        pids = {m.pid for m in cluster.members}
        assert {e.pid for e in history.steps} <= pids


def test_processes_started_together_on_a_fresh_database_all_come_up():
    """Found by the `--workers` test under load: LangGraph's checkpointer and store migrations raced
    when processes started at once on an empty database (UniqueViolation, exit 1). They now run one
    process at a time (actors/storage/postgres.py, SETUP_LOCK)."""
    with Cluster(3, together=True) as cluster:
        assert len(cluster.live) == 3
        client = get_sync_client(url=cluster.members[2].url, api_key=None)
        thread = client.threads.create()["thread_id"]
        client.runs.wait(thread, GRAPH_ID, input=ONE)


def test_interrupt_rollback_and_reads_across_processes():
    """A run executing in A is interrupted through B and rolled back through C: it stops where it runs
    (its step journals `cancel` in A) before its successor starts there; join, state and a stream
    work from every process."""
    with Cluster(3) as cluster:
        a, b, c = (get_sync_client(url=m.url, api_key=None) for m in cluster.members)
        pid_a = cluster.members[0].pid
        thread = a.threads.create()["thread_id"]
        long_run = a.runs.create(thread, GRAPH_ID, input=LONG)["run_id"]
        assert first_start(cluster, long_run)["pid"] == pid_a
        successor = b.runs.create(thread, GRAPH_ID, input=ONE, multitask_strategy="interrupt")["run_id"]
        c.runs.join(thread, successor)
        events = journal(cluster)
        cancel = [e for e in events if e["run"] == long_run and e["event"] == "cancel"]
        start = [e for e in events if e["run"] == successor and e["event"] == "start"]
        assert cancel and cancel[0]["pid"] == pid_a and start[0]["pid"] == pid_a
        assert cancel[0]["t"] <= start[0]["t"]
        assert a.runs.get(thread, long_run)["status"] == "interrupted"
        assert b.runs.get(thread, successor)["status"] == "success"

        doomed = c.runs.create(thread, GRAPH_ID, input=LONG)["run_id"]
        first_start(cluster, doomed)
        after = c.runs.create(thread, GRAPH_ID, input=ONE, multitask_strategy="rollback")["run_id"]
        b.runs.join(thread, after)
        with pytest.raises(httpx.HTTPStatusError) as gone:
            a.runs.get(thread, doomed)
        assert gone.value.response.status_code == 404
        for client in (a, b, c):
            done = client.threads.get_state(thread)["values"]["done"]
            assert f"{successor}:0" in done and f"{after}:0" in done and not any(d.startswith(doomed) for d in done)
        # A streamed run created through one process and joined as a stream through another.
        parts = [p.event for p in b.runs.stream(thread, GRAPH_ID, input={"steps": 2, "delay": 0.05}, stream_mode="updates")]
        assert parts.count("updates") == 2
        assert {e["pid"] for e in journal(cluster) if e["thread"] == thread} == {pid_a}


def _allowed_after_kill(violation, events: list[dict], victim: int, killed_at: float) -> bool:
    """What a kill -9 owes nothing for: a step the victim was executing when it died never ends, and
    recovery ends that run `error` (docs/storage.md). Only runs that executed in the victim only,
    every step before the kill."""
    if violation.rule not in ("unfinished-step", "run-error"):
        return False
    mine = [e for e in events if e["run"] in violation.runs]
    return bool(mine) and all(e["pid"] == victim and e["t"] <= killed_at for e in mine)


def test_kill9_of_one_process_mid_burst_loses_nothing():
    with Cluster(3, lease_seconds=2) as cluster:
        target = cluster.target()
        target.failover = 60.0
        killed: dict[str, float] = {}

        async def fault(harness: Harness) -> None:
            while harness.sent < 40:
                await asyncio.sleep(0.005)
            # The victim: a process executing a step right now (a run in flight there).
            while True:
                events = journal(cluster)
                open_steps = Counter()
                for e in events:
                    open_steps[(e["run"], e["step"], e["pid"])] += 1 if e["event"] == "start" else -1
                busy = {pid for (_, _, pid), n in open_steps.items() if n > 0}
                victims = [m for m in cluster.members if m.pid in busy]
                if victims:
                    break
                await asyncio.sleep(0.005)
            victim = victims[0]
            await target.quiesce()  # no run create in flight: each one's answer is known
            target.remove(victim.url)
            killed["pid"], killed["t"] = victim.pid, time.time()
            os.kill(victim.pid, signal.SIGKILL)
            target.reopen()

        history = drive(target, Workload(**{**BURST, "runs_per_thread": 15, "step_duration": 0.05}), fault)
        events = journal(cluster)
        violations = [v for v in check(history) if not _allowed_after_kill(v, events, killed["pid"], killed["t"])]
        assert violations == [], "\n".join(map(str, violations[:30])) + "\n" + cluster.logs()
        # The victim's threads were taken over: some thread ran steps in the victim before the kill
        # and in another process after it.
        taken = {e["thread"] for e in events if e["pid"] == killed["pid"]}
        assert any(e["thread"] in taken and e["pid"] != killed["pid"] and e["t"] > killed["t"] for e in events)
        survivor = get_sync_client(url=cluster.live[0].url, api_key=None)
        for thread in history.threads():
            assert survivor.threads.get(thread)["status"] != "busy"


def test_sigstop_past_the_lease_then_sigcont_writes_nothing():
    with Cluster(3, lease_seconds=2) as cluster:
        victim = cluster.members[0]
        client = get_sync_client(url=victim.url, api_key=None)
        thread = client.threads.create()["thread_id"]
        stuck = client.runs.create(thread, GRAPH_ID, input={"steps": 2, "delay": 1.0})["run_id"]
        assert first_start(cluster, stuck)["pid"] == victim.pid
        queued = client.runs.create(thread, GRAPH_ID, input=ONE)["run_id"]
        victim.pause()
        try:
            taken = first_start(cluster, queued, timeout=30)  # the lease lapsed; another process took over
        finally:
            woke = time.time()
            victim.resume()
        assert taken["pid"] != victim.pid
        other = get_sync_client(url=cluster.members[1].url, api_key=None)
        other.runs.join(thread, queued)
        # The paused run's step finishes its sleep in the victim after waking; none of its output,
        # and no status of the victim's, reaches the database.
        # Its step was asleep when the process stopped: once woken, it ends (or is cancelled) there.
        wait_until(lambda: any(e["run"] == stuck and e["t"] >= woke and e["event"] != "start" for e in journal(cluster)), timeout=30)
        wait_until(victim.ready, timeout=30)  # and the process serves again (its heartbeat found the lease lapsed)
        late = [e for e in journal(cluster) if e["run"] == stuck and e["t"] >= woke]
        assert all(e["pid"] == victim.pid for e in late), late
        state = other.threads.get_state(thread)["values"]["done"]
        for e in late:
            if e["event"] == "end":
                assert f"{stuck}:{e['step']}" not in state, (late, state)
        assert other.runs.get(thread, stuck)["status"] == "error"  # recovered by the taker, never rewritten
        assert other.runs.get(thread, queued)["status"] == "success"
        # New runs through the woken process execute in the thread's new owner.
        deadline = time.monotonic() + 30
        while True:
            try:
                fresh = client.runs.create(thread, GRAPH_ID, input=ONE)["run_id"]
                break
            except httpx.HTTPStatusError as exc:
                assert exc.response.status_code == 503 and time.monotonic() < deadline, exc
        assert first_start(cluster, fresh)["pid"] == taken["pid"]
        client.runs.join(thread, fresh)
        assert other.runs.get(thread, stuck)["status"] == "error"


def busy_thread(cluster: Cluster, owner: Member, delay: float) -> tuple[str, str, str]:
    """A thread `owner` runs (a run of `delay` s executing there), with a 1-step run queued behind it."""
    client = get_sync_client(url=owner.url, api_key=None)
    thread = client.threads.create()["thread_id"]
    running = client.runs.create(thread, GRAPH_ID, input={"steps": 1, "delay": delay})["run_id"]
    assert first_start(cluster, running)["pid"] == owner.pid
    return thread, running, client.runs.create(thread, GRAPH_ID, input=ONE)["run_id"]


def test_sigterm_hands_threads_over_at_once():
    with Cluster(3) as cluster:  # the default 10 s lease: a hand-over must not wait for it
        victim = cluster.members[0]
        thread, running, queued = busy_thread(cluster, victim, 0.5)
        t0 = time.time()
        victim.terminate()
        started = first_start(cluster, queued, timeout=30)
        assert started["pid"] != victim.pid
        assert started["t"] - t0 < 5.0, started["t"] - t0  # the grace (2 s) and a hand-over, not the lease
        assert victim.wait(timeout=30) == 0
        other = get_sync_client(url=cluster.members[1].url, api_key=None)
        other.runs.join(thread, queued)
        assert other.runs.get(thread, running)["status"] == "success"  # it finished within the grace
        assert other.runs.get(thread, queued)["status"] == "success"


def test_redis_down_loses_nothing_and_hand_overs_still_happen():
    with Cluster(3, lease_seconds=2) as cluster:
        assert cluster.redis is not None

        async def stop_redis(harness: Harness) -> None:
            while harness.sent < 25:
                await asyncio.sleep(0.005)
            await asyncio.to_thread(cluster.redis.stop)  # mid-run: runs executing, queued, streamed

        history = drive(cluster.target(), Workload(**{**BURST, "runs_per_thread": 8}), stop_redis)
        assert_clean(history, cluster)
        assert cluster.redis.proc is not None and cluster.redis.proc.poll() is not None  # it stayed down
        # A SIGTERM hand-over without Redis: the peers find the thread at their takeover tick.
        victim = cluster.members[2]
        thread, _, queued = busy_thread(cluster, victim, 0.3)
        victim.terminate()
        assert first_start(cluster, queued, timeout=30)["pid"] != victim.pid
        get_sync_client(url=cluster.members[0].url, api_key=None).runs.join(thread, queued)


def test_nginx_in_front_of_three_processes():
    with Cluster(3) as cluster, Nginx([m.url for m in cluster.members]) as proxy:
        history = drive(HttpTarget(proxy.url, cluster.journal, name="nginx"), Workload(**{**BURST, "runs_per_thread": 8}))
        assert_clean(history, cluster)
        assert process_spread(history)["count"] >= 2


def test_loadtest_cli_serves_a_cluster_of_processes(tmp_path):
    report = tmp_path / "report.json"
    with postgres_schema() as url, PrivateRedis() as redis:
        done = subprocess.run(
            [sys.executable, "-m", "server.cli", "loadtest", "--serve", "--processes", "3", "--storage", "postgres",
             "--database-url", url, "--redis-url", redis.url, "--threads", "6", "--runs-per-thread", "6",
             "--step-duration", "0.01", "--no-progress", "--report", str(report)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["violations"] == [] and data["processes"]["count"] >= 2, data["processes"]


def test_serve_workers_share_one_port(tmp_path):
    port = free_port()
    journal_path = new_journal()
    with postgres_schema() as url, PrivateRedis() as redis:
        log = open(tmp_path / "workers.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--workers", "2", "--config", CONFIG_PATH, "--port", str(port),
             "--database-url", url, "--redis-url", redis.url, "--shutdown-grace", "1"],
            cwd=ROOT, env={**os.environ, JOURNAL_ENV: str(journal_path)}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            def ready() -> bool:
                assert proc.poll() is None, (tmp_path / "workers.log").read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=60, interval=0.05)
            history = drive(HttpTarget(f"http://127.0.0.1:{port}", journal_path), Workload(**{**BURST, "runs_per_thread": 6}))
            violations = check(history)
            assert violations == [], "\n".join(map(str, violations[:20])) + (tmp_path / "workers.log").read_text()[-3000:]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            journal_path.unlink(missing_ok=True)
        assert code == 0, (tmp_path / "workers.log").read_text()[-3000:]
