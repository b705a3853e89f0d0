"""Takeover in cluster mode with real processes: a `kill -9`ed owner's threads are taken over by a
survivor once its lease lapses (the run it left running follows the recovery policy, pending runs
run in their order, no thread stays busy), and SIGTERM hands a process's threads over at once."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import httpx
from langgraph_sdk import get_sync_client

from tests.cluster_support import ClusterProcess, cluster_backends, owner_of, process_pair
from tests.conftest import wait_until

TERMINAL = {"success", "error", "interrupted", "timeout"}


def _dir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir(exist_ok=True)
    return tmp_path / name


def _status(client, thread_id: str, run_id: str) -> str:
    return client.runs.get(thread_id, run_id)["status"]


def test_kill_9_of_the_owner_hands_its_threads_to_a_survivor(tmp_path: Path) -> None:
    with cluster_backends() as (database_url, redis_url):
        a = ClusterProcess(_dir(tmp_path, "a"), database_url, redis_url, lease=2.0)
        b = ClusterProcess(_dir(tmp_path, "b"), database_url, redis_url, lease=2.0)
        try:
            a.start()
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            threads = [client_a.threads.create()["thread_id"] for _ in range(3)]
            running, pending = {}, {}
            for thread_id in threads:
                running[thread_id] = client_a.runs.create(thread_id, "steps", input={"tag": "slow", "delay": 30})
                pending[thread_id] = [
                    client_a.runs.create(thread_id, "steps", input={"tag": f"q{i}", "delay": 0}, multitask_strategy="enqueue")
                    for i in range(3)
                ]
            a_id = a.process_id(database_url)
            assert all(owner_of(database_url, t)[0] == a_id for t in threads)
            wait_until(lambda: all(_status(client_b, t, running[t]["run_id"]) == "running" for t in threads), timeout=30)

            a.kill()
            killed = time.monotonic()
            for thread_id in threads:
                # A join through B waits for the new owner (B itself, once A's lease lapses).
                last = pending[thread_id][-1]["run_id"]
                client_b.runs.join(thread_id, last)
                assert _status(client_b, thread_id, running[thread_id]["run_id"]) == "error"  # not resumed
                assert [_status(client_b, thread_id, r["run_id"]) for r in pending[thread_id]] == ["success"] * 3
                messages = client_b.threads.get_state(thread_id)["values"]["messages"]
                tail = [m for m in messages if m.startswith("q")]
                assert tail == [f"q{i}:{s}" for i in range(3) for s in range(3)]  # in their order
                assert client_b.threads.get(thread_id)["status"] != "busy"
                owner = owner_of(database_url, thread_id)
                assert owner[0] == b.process_id(database_url) and owner[1] == 2
            assert time.monotonic() - killed < 30
        finally:
            a.stop()
            b.stop()


def _handover(tmp_path: Path, redis_url: str, database_url: str, lease: float) -> float:
    """SIGTERM the owner of a thread with queued runs; seconds until the survivor ran them all."""
    a = ClusterProcess(_dir(tmp_path, "a"), database_url, redis_url, "--shutdown-grace", "5", lease=lease)
    b = ClusterProcess(_dir(tmp_path, "b"), database_url, redis_url, lease=lease)
    try:
        a.start()
        b.start()
        client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
        thread_id = client_a.threads.create()["thread_id"]
        first = client_a.runs.create(thread_id, "steps", input={"tag": "first", "delay": 0.3})
        queued = [
            client_a.runs.create(thread_id, "steps", input={"tag": f"q{i}", "delay": 0}, multitask_strategy="enqueue")
            for i in range(2)
        ]
        wait_until(lambda: _status(client_a, thread_id, first["run_id"]) == "running", timeout=30)
        a.terminate()  # drain: the running run finishes within the grace, the queued ones stay pending
        assert a.wait(timeout=60) == 0
        exited = time.monotonic()
        with httpx.Client(base_url=b.url, timeout=5) as http:
            wait_until(
                lambda: http.get(f"/threads/{thread_id}/runs/{queued[-1]['run_id']}").json()["status"] in TERMINAL,
                timeout=60, interval=0.02,
            )
        took = time.monotonic() - exited
        assert _status(client_b, thread_id, first["run_id"]) == "success"
        assert [_status(client_b, thread_id, r["run_id"]) for r in queued] == ["success", "success"]
        assert owner_of(database_url, thread_id)[0] == b.process_id(database_url)
        return took
    finally:
        a.stop()
        b.stop()


def test_sigterm_hands_over_at_once_through_redis(tmp_path: Path) -> None:
    with cluster_backends() as (database_url, redis_url):
        # A long lease and takeover tick (lease / 4 = 7.5 s): only the Redis wake-up is this fast.
        assert _handover(tmp_path, redis_url, database_url, lease=30.0) < 5.0


def test_without_redis_the_hand_over_waits_for_the_takeover_tick(tmp_path: Path) -> None:
    with cluster_backends() as (database_url, _redis_url):
        # Nothing listens on port 1: Redis is "down" for the whole test; everything still works.
        took = _handover(tmp_path, "redis://127.0.0.1:1/0", database_url, lease=4.0)
        assert took < 4.0 / 4 + 5.0


def test_an_owner_paused_past_its_lease_loses_its_threads_and_writes_nothing_after_waking(tmp_path: Path) -> None:
    import signal

    with cluster_backends() as (database_url, redis_url):
        a = ClusterProcess(_dir(tmp_path, "a"), database_url, redis_url, lease=2.0)
        b = ClusterProcess(_dir(tmp_path, "b"), database_url, redis_url, lease=2.0)
        try:
            a.start()
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            thread_id = client_a.threads.create()["thread_id"]
            slow = client_a.runs.create(thread_id, "steps", input={"tag": "slow", "delay": 0.5})
            queued = client_a.runs.create(thread_id, "steps", input={"tag": "next", "delay": 0}, multitask_strategy="enqueue")
            wait_until(lambda: _status(client_a, thread_id, slow["run_id"]) == "running", timeout=30)
            a_id = a.process_id(database_url)
            assert a.proc is not None
            a.proc.send_signal(signal.SIGSTOP)  # mid-run, holding the thread
            try:
                # Through B: the join is forwarded to A, which answers nothing; once A's lease has
                # lapsed it goes to B, which takes the thread over and runs the queued run.
                client_b.runs.join(thread_id, queued["run_id"])
                assert _status(client_b, thread_id, slow["run_id"]) == "error"
                assert _status(client_b, thread_id, queued["run_id"]) == "success"
                owner = owner_of(database_url, thread_id)
                assert owner == (b.process_id(database_url), 2)
                before = client_b.threads.get_state(thread_id)
            finally:
                a.proc.send_signal(signal.SIGCONT)
            # A wakes: its run's steps are long over, its writes go out at once and are refused; its
            # heartbeat finds the lease lapsed and A joins again as a new member.
            wait_until(lambda: a.process_id(database_url) not in (None, a_id), timeout=30)
            after = client_b.threads.get_state(thread_id)
            assert after["checkpoint"] == before["checkpoint"] and after["values"] == before["values"]
            assert "slow:2" not in after["values"]["messages"]
            assert _status(client_b, thread_id, slow["run_id"]) == "error"
            assert owner_of(database_url, thread_id) == owner
            # A serves again, as a member like any other: its requests for the thread go to B.
            done = client_a.runs.wait(thread_id, "steps", input={"tag": "later", "delay": 0})
            assert done["messages"][-1] == "later:2"
            assert owner_of(database_url, thread_id) == owner
        finally:
            a.stop()
            b.stop()


def test_a_draining_process_hands_over_threads_as_soon_as_their_runs_end(tmp_path: Path) -> None:
    with process_pair(partial(_dir, tmp_path), lease=30.0, args_a=("--shutdown-grace", "30")) as (a, b, database_url):
        client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
        long_thread = client_a.threads.create()["thread_id"]
        long_run = client_a.runs.create(long_thread, "steps", input={"tag": "long", "delay": 2.0})
        short_thread = client_a.threads.create()["thread_id"]
        short_run = client_a.runs.create(short_thread, "steps", input={"tag": "short", "delay": 0.5})
        queued = [
            client_a.runs.create(short_thread, "steps", input={"tag": f"q{i}", "delay": 0}, multitask_strategy="enqueue")
            for i in range(2)
        ]
        wait_until(lambda: _status(client_a, long_thread, long_run["run_id"]) == "running", timeout=30)
        a.terminate()
        # A drains the long run; the short thread's queue runs on B meanwhile, not after A exits.
        with httpx.Client(base_url=b.url, timeout=5) as http:
            wait_until(
                lambda: http.get(f"/threads/{short_thread}/runs/{queued[-1]['run_id']}").json()["status"] in TERMINAL,
                timeout=30, interval=0.02,
            )
        assert a.proc is not None and a.proc.poll() is None  # still draining the long run
        assert _status(client_b, short_thread, short_run["run_id"]) == "success"
        assert [_status(client_b, short_thread, r["run_id"]) for r in queued] == ["success", "success"]
        assert owner_of(database_url, short_thread)[0] == b.process_id(database_url)
        assert a.wait(timeout=60) == 0
        assert _status(client_b, long_thread, long_run["run_id"]) == "success"  # finished within the grace


def test_a_run_created_on_a_draining_owners_thread_is_accepted_and_runs_on_the_next_owner(tmp_path: Path) -> None:
    """A rolling restart refuses no background run: a create on a thread whose owner drains (sent to
    a peer, which forwards it) is accepted `pending`; the thread's next owner runs it after the
    drained run. A create that would wait on the draining owner is still refused (503)."""
    with process_pair(partial(_dir, tmp_path), lease=30.0, args_a=("--shutdown-grace", "30")) as (a, b, database_url):
        client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
        thread = client_a.threads.create()["thread_id"]
        long_run = client_a.runs.create(thread, "steps", input={"tag": "long", "delay": 3.0})
        wait_until(lambda: _status(client_a, thread, long_run["run_id"]) == "running", timeout=30)
        a.terminate()
        with httpx.Client(base_url=b.url, timeout=10) as http:
            body = {"assistant_id": "steps", "input": {"tag": "after", "delay": 0}, "multitask_strategy": "enqueue"}
            wait_until(lambda: http.get("/ok").status_code == 200, timeout=10)
            waited = http.post(f"/threads/{thread}/runs/wait", json=body)
            created = http.post(f"/threads/{thread}/runs", json=body)
        assert a.proc is not None and a.proc.poll() is None, "A should still be draining its long run"
        assert waited.status_code == 503, waited.text
        assert created.status_code == 200, created.text
        assert created.json()["status"] == "pending"
        successor = created.json()["run_id"]
        wait_until(lambda: _status(client_b, thread, successor) in TERMINAL, timeout=60, interval=0.05)
        assert _status(client_b, thread, long_run["run_id"]) == "success"  # finished within the grace
        assert _status(client_b, thread, successor) == "success"
        assert owner_of(database_url, thread)[0] == b.process_id(database_url)
        assert a.wait(timeout=60) == 0
