"""Crash recovery with real crashes: `switchboard serve` in a subprocess is SIGKILLed mid-run and in
the middle of a burst of enqueued runs, restarted on the same data (SQLite dir / PostgreSQL schema),
and checked with the real langgraph-sdk client. Plus the graceful path: SIGTERM drains."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from loadtest.graph import CONFIG_PATH, GRAPH_ID, JOURNAL_ENV

from tests.backends import DURABLE_BACKENDS, backend_settings, cli_args
from tests.conftest import wait_until
from tests.server_process import ServerProcess

TERMINAL = {"success", "error", "interrupted", "timeout"}


@pytest.fixture(params=DURABLE_BACKENDS)
def storage_args(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    with backend_settings(request.param, tmp_path) as settings:
        yield cli_args(settings)


@pytest.fixture
def server(tmp_path: Path, storage_args: list[str]) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, storage_args, "--shutdown-grace", "3")
    try:
        yield proc
    finally:
        proc.stop()


def _messages(client, thread_id: str) -> list[str]:
    return client.threads.get_state(thread_id)["values"].get("messages", [])


def test_kill_mid_run_and_mid_burst_loses_no_accepted_run(server: ServerProcess) -> None:
    client = get_sync_client(url=server.start().url)
    thread_id = client.threads.create()["thread_id"]
    slow = client.runs.create(thread_id, "steps", input={"tag": "a", "delay": 1.0})
    wait_until(lambda: "a:0" in _messages(client, thread_id), timeout=30)

    accepted: list[str] = []
    stop = threading.Event()

    def burst() -> None:  # enqueue runs one after the other until the server dies
        with httpx.Client(base_url=server.url, timeout=5) as http:
            for i in range(200):
                if stop.is_set():
                    return
                try:
                    response = http.post(
                        f"/threads/{thread_id}/runs",
                        json={"assistant_id": "steps", "input": {"tag": f"q{i}", "delay": 0}, "multitask_strategy": "enqueue"},
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    accepted.append(response.json()["run_id"])

    poster = threading.Thread(target=burst)
    poster.start()
    wait_until(lambda: len(accepted) >= 5, timeout=30)
    server.kill()  # mid-run (the slow run is on its first steps) and mid-burst
    stop.set()
    poster.join(timeout=30)
    before_restart = list(accepted)

    client = get_sync_client(url=server.start().url)
    # The run that was running is ended, not left running: error saying the server restarted.
    slow_after = client.runs.get(thread_id, slow["run_id"])
    assert slow_after["status"] == "error"
    # Every accepted run exists, and the pending ones all run to success.
    wait_until(
        lambda: all(client.runs.get(thread_id, r)["status"] in TERMINAL for r in before_restart), timeout=60
    )
    assert {client.runs.get(thread_id, r)["status"] for r in before_restart} == {"success"}
    wait_until(lambda: client.threads.get(thread_id)["status"] == "idle", timeout=30)
    # Steps completed before the crash are in the state; queued runs ran in their acceptance order.
    messages = _messages(client, thread_id)
    assert messages[0] == "a:0"
    order = [m.split(":")[0] for m in messages if m.startswith("q") and m.endswith(":0")]
    tags = [client.runs.get(thread_id, r)["kwargs"]["input"]["tag"] for r in before_restart]
    assert [t for t in order if t in tags] == tags
    assert order == sorted(order, key=lambda t: int(t[1:]))


def test_sigterm_drains_finishes_short_runs_interrupts_long_ones_exit_0(server: ServerProcess) -> None:
    client = get_sync_client(url=server.start().url)
    short_thread = client.threads.create()["thread_id"]
    long_thread = client.threads.create()["thread_id"]
    long = client.runs.create(long_thread, "steps", input={"tag": "l", "delay": 60})
    queued = client.runs.create(long_thread, "one", input={"tag": "p", "delay": 0}, multitask_strategy="enqueue")
    short = client.runs.create(short_thread, "steps", input={"tag": "s", "delay": 0.2})
    wait_until(lambda: client.runs.get(long_thread, long["run_id"])["status"] == "running", timeout=30)

    server.terminate()
    # While draining it still answers, but refuses new runs with 503 and Retry-After.
    def refused() -> bool:
        response = httpx.post(f"{server.url}/threads/{short_thread}/runs", json={"assistant_id": "one", "input": {}})
        if response.status_code == 503:
            assert response.headers["retry-after"]
            assert "shutting down" in response.json()["detail"]
            return True
        return False

    wait_until(refused, timeout=10)
    assert server.wait(timeout=60) == 0

    client = get_sync_client(url=server.start().url)
    assert client.runs.get(short_thread, short["run_id"])["status"] == "success"
    assert client.runs.get(long_thread, long["run_id"])["status"] == "interrupted"
    # The pending run was not started during the drain; it runs after the restart.
    wait_until(lambda: client.runs.get(long_thread, queued["run_id"])["status"] == "success", timeout=30)
    assert _messages(client, short_thread) == ["s:0", "s:1", "s:2"]


def _journal_starts(path: Path) -> dict[str, set[int]]:
    starts: dict[str, set[int]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "start":
            starts.setdefault(event["run"], set()).add(event["step"])
    return starts


def test_kill_under_concurrent_load_keeps_every_step_a_successor_started_after(
    tmp_path: Path, storage_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit under load: many threads' runs write checkpoints in shared transactions. After
    `kill -9`, every accepted run exists, and every step that the graph's journal shows was followed
    by a later step of its run is in the thread's state (durability="sync": a step starts only once
    the previous one is committed) - whichever batch its write was in."""
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(JOURNAL_ENV, str(journal))
    server = ServerProcess(tmp_path, storage_args, config=Path(CONFIG_PATH))
    try:
        client = get_sync_client(url=server.start().url)
        threads = [client.threads.create()["thread_id"] for _ in range(12)]
        accepted: dict[str, str] = {}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(3):
                for thread_id in threads:
                    response = http.post(
                        f"/threads/{thread_id}/runs",
                        json={"assistant_id": GRAPH_ID, "input": {"steps": 6, "delay": 0.005}, "multitask_strategy": "enqueue"},
                    )
                    assert response.status_code == 200, response.text
                    accepted[response.json()["run_id"]] = thread_id
        # Kill once plenty of runs are between steps.
        wait_until(lambda: journal.exists() and sum(len(s) for s in _journal_starts(journal).values()) >= 60, timeout=60)
        server.kill()
        starts = _journal_starts(journal)

        client = get_sync_client(url=server.start().url)
        for run_id, thread_id in accepted.items():  # every accepted run is still there
            assert client.runs.get(thread_id, run_id)["run_id"] == run_id
        done = {thread_id: set(client.threads.get_state(thread_id)["values"].get("done", [])) for thread_id in threads}
        checked = 0
        for run_id, steps in starts.items():
            if run_id not in accepted:
                continue
            for step in sorted(steps)[1:]:  # a later step started: the one before it was committed
                checked += 1
                assert f"{run_id}:{step - 1}" in done[accepted[run_id]], (run_id, step)
        assert checked >= 20
    finally:
        server.stop()
