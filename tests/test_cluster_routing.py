"""Two real `switchboard serve` processes in cluster mode on one PostgreSQL schema: every request
for a thread is served by the process that owns it, whichever process it reached
(server/forwarding.py). Checked with the real langgraph-sdk client against the process that does
NOT own the thread."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from langgraph_sdk import get_sync_client

from tests.cluster_support import ClusterProcess, owner_of, process_pair
from tests.conftest import wait_until


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClusterProcess, ClusterProcess, str]]:
    """One pair for the module (each test uses threads of its own): starting a process takes seconds."""
    with process_pair(tmp_path_factory.mktemp) as pair:
        yield pair


def test_runs_of_a_thread_execute_in_its_owner_whoever_is_asked(pair) -> None:
    a, b, database_url = pair
    client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
    thread_id = client_b.threads.create()["thread_id"]  # created anywhere: owned by nobody yet
    first = client_a.runs.create(thread_id, "steps", input={"tag": "first", "delay": 1.0})
    owner = owner_of(database_url, thread_id)
    assert owner == (a.process_id(database_url), 1)  # the process that got the run took the thread

    # Through B: a run that interrupts the first, which runs in A; the successor runs after it, in A.
    wait_until(lambda: client_b.runs.get(thread_id, first["run_id"])["status"] == "running", timeout=30)
    second = client_b.runs.create(
        thread_id, "steps", input={"tag": "second", "delay": 0}, multitask_strategy="interrupt"
    )
    result = client_b.runs.join(thread_id, second["run_id"])
    assert client_b.runs.get(thread_id, first["run_id"])["status"] == "interrupted"
    assert client_b.runs.get(thread_id, second["run_id"])["status"] == "success"
    assert [m for m in result["messages"] if m.startswith("second")] == ["second:0", "second:1", "second:2"]
    assert owner_of(database_url, thread_id) == owner  # B never took it, nor wrote for it

    # Cancel through B stops the run in A.
    third = client_b.runs.create(thread_id, "steps", input={"tag": "third", "delay": 1.0})
    wait_until(lambda: client_a.runs.get(thread_id, third["run_id"])["status"] == "running", timeout=30)
    client_b.runs.cancel(thread_id, third["run_id"], wait=True, action="interrupt")
    assert client_a.runs.get(thread_id, third["run_id"])["status"] == "interrupted"
    assert client_b.threads.get(thread_id)["status"] != "busy"
    assert owner_of(database_url, thread_id) == owner


def test_stream_and_join_stream_with_last_event_id_through_a_peer(pair) -> None:
    a, b, database_url = pair
    client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
    thread_id = client_a.threads.create()["thread_id"]
    client_a.runs.wait(thread_id, "steps", input={"tag": "warm", "delay": 0})  # A owns it now
    owner = owner_of(database_url, thread_id)
    assert owner is not None and owner[0] == a.process_id(database_url)

    parts = list(client_b.runs.stream(thread_id, "steps", input={"tag": "s", "delay": 0.05}, stream_mode="updates"))
    assert parts[0].event == "metadata"
    updates = [p.data for p in parts if p.event == "updates"]
    assert len(updates) == 3

    run = client_b.runs.create(
        thread_id, "steps", input={"tag": "r", "delay": 0.3}, stream_mode="updates", stream_resumable=True
    )
    with httpx.Client(base_url=b.url, timeout=30) as http:
        with http.stream("GET", f"/threads/{thread_id}/runs/{run['run_id']}/stream") as response:
            assert response.status_code == 200
            ids, events = [], []
            for line in response.iter_lines():
                if line.startswith("id: "):
                    ids.append(line[4:])
                elif line.startswith("event: "):
                    events.append(line[7:])
    assert events.count("updates") == 3 and len(ids) >= 2
    # Join the stream again through B from the second event on: only the events after it come back.
    rest = list(client_b.runs.join_stream(thread_id, run["run_id"], last_event_id=ids[1]))
    assert len(rest) == len(ids) - 2
    assert owner_of(database_url, thread_id) == owner


def test_state_reads_and_thread_deletion_through_a_peer(pair) -> None:
    a, b, database_url = pair
    client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
    thread_id = client_a.threads.create()["thread_id"]
    client_a.runs.wait(thread_id, "steps", input={"tag": "x", "delay": 0})
    assert client_b.threads.get_state(thread_id)["values"]["messages"] == ["x:0", "x:1", "x:2"]
    assert len(client_b.threads.get_history(thread_id)) >= 3
    client_b.threads.delete(thread_id)
    with pytest.raises(Exception) as missing:
        client_a.threads.get(thread_id)
    assert getattr(missing.value, "response").status_code == 404


def test_a_deleted_threads_owner_row_goes_with_it(pair) -> None:
    """DELETE /threads/{id}, prune and a stateless run's `on_completion: delete`, sent to either
    process: the owner deletes the thread's `thread_owners` row (Ownership.forget) before it answers;
    a new thread, and one with a deleted thread's id, are served as any."""
    a, b, database_url = pair
    client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
    a_id = a.process_id(database_url)

    def owned_by_a() -> str:
        thread_id = client_a.threads.create()["thread_id"]
        client_a.runs.wait(thread_id, "one", input={"tag": "x"})
        assert owner_of(database_url, thread_id) == (a_id, 1)
        return thread_id

    through_peer, through_owner, pruned = owned_by_a(), owned_by_a(), [owned_by_a(), owned_by_a()]
    client_b.threads.delete(through_peer)
    assert owner_of(database_url, through_peer) is None
    client_a.threads.delete(through_owner)
    assert owner_of(database_url, through_owner) is None
    assert httpx.post(f"{b.url}/threads/prune", json={"thread_ids": pruned}).json() == {"pruned_count": 2}
    assert [owner_of(database_url, t) for t in pruned] == [None, None]

    stateless = client_b.runs.create(None, "one", input={"tag": "s"})  # its own thread, deleted after the run
    wait_until(lambda: owner_of(database_url, stateless["thread_id"]) is None, timeout=30)
    with pytest.raises(Exception) as missing:
        client_a.threads.get(stateless["thread_id"])
    assert getattr(missing.value, "response").status_code == 404

    fresh = client_b.threads.create()["thread_id"]  # a new id: served as any
    assert client_a.runs.wait(fresh, "one", input={"tag": "n"})["messages"] == ["n:0"]
    again = client_b.threads.create(thread_id=through_peer)["thread_id"]  # a deleted thread's id starts over
    assert client_b.runs.wait(again, "one", input={"tag": "r"})["messages"] == ["r:0"]
    assert owner_of(database_url, again)[1] == 1
    assert client_a.threads.get_state(again)["values"]["messages"] == ["r:0"]
