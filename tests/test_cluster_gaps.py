"""Cluster mode, what used to reach only the threads of the process that got it: `POST /runs/cancel`
(by run ids or by status) and `POST /threads/prune` reach the threads of every process (split by
owner, server/fanout.py) and answer as the single-process server does; protocol v2's WebSocket on a
peer's thread is relayed to the peer (server/ws_forwarding.py); a dead process's accepted runs send
their webhooks from the taker. Two real `switchboard serve`
processes on one PostgreSQL schema, the real langgraph-sdk client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
import websockets
from langgraph_sdk import get_sync_client

from tests.cluster_support import ClusterProcess, cluster_backends, owner_of, process_pair
from tests.conftest import wait_until


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClusterProcess, ClusterProcess, str]]:
    with process_pair(tmp_path_factory.mktemp) as pair:
        yield pair


def _owned_threads(pair, count: int = 1) -> tuple[list[str], list[str]]:
    """`count` threads owned by A and `count` owned by B (each took its own by serving a run)."""
    a, b, database_url = pair
    threads: tuple[list[str], list[str]] = ([], [])
    for process, owned in ((a, threads[0]), (b, threads[1])):
        client = get_sync_client(url=process.url)
        for _ in range(count):
            thread_id = client.threads.create()["thread_id"]
            client.runs.wait(thread_id, "steps", input={"tag": "warm", "delay": 0})
            assert owner_of(database_url, thread_id)[0] == process.process_id(database_url)
            owned.append(thread_id)
    return threads


def _slow_runs(pair, threads: list[str]) -> dict[str, str]:
    """A long run on each thread, created through A (forwarded to the thread's owner), running."""
    client = get_sync_client(url=pair[0].url)
    runs = {t: client.runs.create(t, "steps", input={"tag": "slow", "delay": 30})["run_id"] for t in threads}
    wait_until(lambda: all(client.runs.get(t, r)["status"] == "running" for t, r in runs.items()), timeout=30)
    return runs


def test_cancel_by_run_ids_reaches_the_runs_of_every_process(pair) -> None:
    a, b, database_url = pair
    (on_a,), (on_b,) = _owned_threads(pair)
    runs = _slow_runs(pair, [on_a, on_b])
    client_a = get_sync_client(url=a.url)
    client_a.runs.cancel_many(run_ids=list(runs.values()), action="interrupt")  # through A: one of them runs in B
    for thread_id, run_id in runs.items():
        wait_until(lambda: client_a.runs.get(thread_id, run_id)["status"] == "interrupted", timeout=30)
        assert client_a.threads.get(thread_id)["status"] != "busy"
    assert owner_of(database_url, on_b)[0] == b.process_id(database_url)  # B's thread stayed B's


def test_cancel_by_status_reaches_every_process_and_answers_as_one_server(pair) -> None:
    a, b, database_url = pair
    on_a, on_b = _owned_threads(pair)
    runs = _slow_runs(pair, on_a + on_b)
    with httpx.Client(base_url=b.url, timeout=30) as http:
        answer = http.post("/runs/cancel", params={"action": "interrupt"}, json={"status": "running"})
        assert answer.status_code == 204, answer.text
        client = get_sync_client(url=b.url)
        for thread_id, run_id in runs.items():
            wait_until(lambda: client.runs.get(thread_id, run_id)["status"] == "interrupted", timeout=30)
        # The single-process errors, unchanged: a bad body or action is a 422 naming the field.
        assert http.post("/runs/cancel", json={}).status_code == 422
        bad = http.post("/runs/cancel", json={"run_ids": ["not-a-uuid"]})
        assert bad.status_code == 422 and "run_ids[0]" in bad.text
        assert http.post("/runs/cancel", params={"action": "explode"}, json={"status": "running"}).status_code == 422
        # Nothing to cancel: 204, as in one process.
        assert http.post("/runs/cancel", json={"status": "pending"}).status_code == 204


def test_cancel_of_one_thread_is_served_by_its_owner(pair) -> None:
    a, b, database_url = pair
    _on_a, (on_b,) = _owned_threads(pair)
    runs = _slow_runs(pair, [on_b])
    client_a = get_sync_client(url=a.url)
    client_a.runs.cancel_many(thread_id=on_b, run_ids=[runs[on_b]], action="interrupt")
    wait_until(lambda: client_a.runs.get(on_b, runs[on_b])["status"] == "interrupted", timeout=30)
    assert owner_of(database_url, on_b)[0] == b.process_id(database_url)


def test_prune_reaches_the_threads_of_every_process(pair) -> None:
    a, b, database_url = pair
    on_a, on_b = _owned_threads(pair, count=2)
    client_b = get_sync_client(url=b.url)
    unknown = "00000000-0000-4000-8000-000000000000"
    # keep_latest on a thread of each process: both keep their state.
    kept = client_b.threads.prune([on_a[0], on_b[0], unknown], strategy="keep_latest")
    assert kept == {"pruned_count": 2}
    assert client_b.threads.get_state(on_a[0])["values"]["messages"] == ["warm:0", "warm:1", "warm:2"]
    # delete: every listed thread is gone, wherever it was served.
    assert client_b.threads.prune(on_a + on_b + [unknown]) == {"pruned_count": 4}
    for thread_id in on_a + on_b:
        with pytest.raises(httpx.HTTPStatusError) as missing:
            get_sync_client(url=a.url).threads.get(thread_id)
        assert missing.value.response.status_code == 404
    with httpx.Client(base_url=a.url, timeout=30) as http:
        bad = http.post("/threads/prune", json={"thread_ids": ["nope"]})
        assert bad.status_code == 422 and "thread_ids[0]" in bad.text
        assert http.post("/threads/prune", json={"thread_ids": [unknown]}).json() == {"pruned_count": 0}


def test_runs_accepted_by_a_process_that_dies_send_their_webhooks_from_the_taker(tmp_path) -> None:
    """The process that accepted the runs is `kill -9`ed: the survivor that takes the thread over sends
    each run's webhook once - the running one ended by the recovery policy (`error`), the queued one
    when it has run there."""
    from tests.test_api_runs_options import WebhookReceiver

    hook = WebhookReceiver()
    with hook.server, cluster_backends() as (database_url, redis_url):
        a = ClusterProcess(tmp_path / "a", database_url, redis_url, lease=2.0)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url, lease=2.0)
        try:
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()
            a.start()
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            url = f"{hook.server.url}/hook"
            thread_id = client_a.threads.create()["thread_id"]
            running = client_a.runs.create(thread_id, "steps", input={"tag": "slow", "delay": 30}, webhook=url)
            queued = client_a.runs.create(
                thread_id, "steps", input={"tag": "q", "delay": 0}, webhook=url, multitask_strategy="enqueue"
            )
            silent = client_a.runs.create(thread_id, "steps", input={"tag": "s", "delay": 0}, multitask_strategy="enqueue")
            wait_until(lambda: client_b.runs.get(thread_id, running["run_id"])["status"] == "running", timeout=30)
            assert hook.received == []

            a.kill()
            client_b.runs.join(thread_id, silent["run_id"])  # through B, which takes the thread over
            wait_until(lambda: len(hook.received) >= 2, timeout=30)
            sent = {body["run_id"]: body for body in hook.received}
            assert sent[running["run_id"]]["status"] == "error"
            assert sent[running["run_id"]]["error"]["error"] == "ServerRestarted"
            assert sent[queued["run_id"]]["status"] == "success"
            assert sent[queued["run_id"]]["values"]["messages"][-3:] == ["q:0", "q:1", "q:2"]
            # Once each: another run on the thread later, and still only those two.
            later = client_b.runs.create(thread_id, "steps", input={"tag": "later", "delay": 0}, webhook=url)
            wait_until(lambda: any(body["run_id"] == later["run_id"] for body in hook.received), timeout=30)
            assert sorted(body["run_id"] for body in hook.received) == sorted(
                [running["run_id"], queued["run_id"], later["run_id"]]
            )
        finally:
            a.stop()
            b.stop()


def test_protocol_websocket_on_a_peers_thread_is_relayed_to_the_owner(pair) -> None:
    a, b, database_url = pair
    (on_a,), _on_b = _owned_threads(pair)
    owner = owner_of(database_url, on_a)

    async def session() -> tuple[list[dict], dict]:
        url = b.url.replace("http://", "ws://") + f"/threads/{on_a}/stream/events"  # B: not the owner
        async with websockets.connect(url) as ws:
            async def ask(command_id: int, method: str, params: dict) -> dict:
                await ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
                while (message := json.loads(await ws.recv()))["type"] == "event":
                    pass
                assert message["id"] == command_id
                return message

            assert (await ask(1, "subscription.subscribe", {"channels": ["lifecycle", "values"]}))["type"] == "success"
            started = await ask(2, "run.start", {"assistant_id": "steps", "input": {"tag": "ws", "delay": 0}})
            assert started["type"] == "success", started
            live: list[dict] = []
            while not live or not (live[-1].get("method") == "lifecycle" and not live[-1]["params"]["namespace"]
                                   and live[-1]["params"]["data"]["event"] in ("completed", "failed", "interrupted")):
                live.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=30)))
            return live, started

    live, _started = asyncio.run(session())
    assert live[-1]["params"]["data"]["event"] == "completed"
    assert {e["method"] for e in live} == {"lifecycle", "values"}
    assert get_sync_client(url=a.url).threads.get_state(on_a)["values"]["messages"][-3:] == ["ws:0", "ws:1", "ws:2"]
    assert owner_of(database_url, on_a) == owner  # the run executed in A, B never took the thread


def test_a_relayed_websocket_whose_owner_dies_closes_with_1013_and_a_reconnect_reaches_the_taker(tmp_path) -> None:
    with cluster_backends() as (database_url, redis_url):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ClusterProcess(tmp_path / "a", database_url, redis_url, lease=2.0)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url, lease=2.0)
        try:
            a.start()
            b.start()
            client_a = get_sync_client(url=a.url)
            thread_id = client_a.threads.create()["thread_id"]
            client_a.runs.wait(thread_id, "steps", input={"tag": "warm", "delay": 0})  # A owns it
            url = b.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"

            async def relayed_until_the_owner_dies() -> int | None:
                async with websockets.connect(url) as ws:
                    await ws.send(json.dumps({"id": 1, "method": "subscription.subscribe", "params": {"channels": ["lifecycle"]}}))
                    assert json.loads(await asyncio.wait_for(ws.recv(), timeout=30))["type"] == "success"
                    a.kill()
                    with pytest.raises(websockets.ConnectionClosed):
                        await asyncio.wait_for(ws.recv(), timeout=30)
                    return ws.close_code

            assert asyncio.run(relayed_until_the_owner_dies()) == 1013

            async def reconnected() -> dict:
                # At once: B waits for A's lease to lapse, takes the thread and serves it.
                async with websockets.connect(url, open_timeout=30) as ws:
                    await ws.send(json.dumps({"id": 1, "method": "subscription.subscribe", "params": {"channels": ["lifecycle"]}}))
                    return json.loads(await asyncio.wait_for(ws.recv(), timeout=30))

            answer = asyncio.run(reconnected())
            assert answer["type"] == "success", answer
            assert owner_of(database_url, thread_id)[0] == b.process_id(database_url)
        finally:
            a.stop()
            b.stop()
