"""Stateless runs (`/runs`, `/runs/stream`, `/runs/wait`) with `on_completion`, `/runs/batch` and
`/runs/cancel`, with the real langgraph-sdk client against a real uvicorn."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError

from tests.api_support import system  # noqa: F401 - fixture
from tests.conftest import wait_until


async def _thread_gone(client, thread_id: str) -> bool:
    try:
        await client.threads.get(thread_id)
    except NotFoundError:
        return True
    return False


async def test_wait_returns_output_and_deletes_its_thread(client, system):
    before = len(system.storage.list_threads())
    result = await client.runs.wait(None, "steps", input={"tag": "w"})
    assert result["messages"] == ["w:0", "w:1", "w:2"]
    wait_until(lambda: len(system.storage.list_threads()) == before)


async def test_wait_keep_leaves_thread_with_state(client, live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post("/runs/wait", json={"assistant_id": "one", "input": {"tag": "k"}, "on_completion": "keep"})
        assert r.status_code == 200 and r.json()["messages"] == ["k:0"]
        thread_id = r.headers["content-location"].split("/")[2]
    state = await client.threads.get_state(thread_id)
    assert state["values"]["messages"] == ["k:0"]


async def test_background_stateless_run_then_thread_deleted(client, system):
    run = await client.runs.create(None, "one", input={"tag": "b"})
    assert run["status"] == "pending"
    wait_until(lambda: system.storage.get_thread(run["thread_id"]) is None)
    assert await _thread_gone(client, run["thread_id"])


async def test_background_stateless_keep(client):
    run = await client.runs.create(None, "one", input={"tag": "bk"}, on_completion="keep")
    assert await client.runs.join(run["thread_id"], run["run_id"]) == {"messages": ["bk:0"], "tag": "bk"}
    assert (await client.runs.get(run["thread_id"], run["run_id"]))["status"] == "success"


async def test_stream_stateless(client, system):
    parts = [p async for p in client.runs.stream(None, "steps", input={"tag": "s"}, stream_mode="updates")]
    assert [p.event for p in parts] == ["metadata", "updates", "updates", "updates"]
    assert parts[1].data == {"step0": {"messages": ["s:0"]}}
    run_id = parts[0].data["run_id"]
    wait_until(lambda: system.storage.get_run(run_id) is None)


async def test_batch_creates_runs(client):
    thread = await client.threads.create()
    runs = await client.runs.create_batch(
        [
            {"assistant_id": "one", "input": {"tag": "b1"}, "on_completion": "keep"},
            {"assistant_id": "one", "input": {"tag": "b2"}, "thread_id": thread["thread_id"]},
        ]
    )
    assert len(runs) == 2 and all(r["status"] == "pending" for r in runs)
    assert runs[1]["thread_id"] == thread["thread_id"]
    assert (await client.runs.join(runs[0]["thread_id"], runs[0]["run_id"]))["messages"] == ["b1:0"]
    assert (await client.runs.join(thread["thread_id"], runs[1]["run_id"]))["messages"] == ["b2:0"]


async def test_batch_validates_every_item_first(client, live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        before = await client.threads.count()
        r = await http.post("/runs/batch", json=[{"assistant_id": "one"}, {"assistant_id": "one", "stream_mode": "nope"}])
        assert r.status_code == 422 and "stream_mode" in r.json()["detail"]
        assert await client.threads.count() == before
        r = await http.post("/runs/batch", json={"assistant_id": "one"})
        assert r.status_code == 422


async def test_cancel_many_by_ids_and_by_status(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    running = await client.runs.create(tid, "steps", input={"tag": "c", "delay": 5})
    queued = await client.runs.create(tid, "steps", input={"tag": "q"})
    await client.runs.cancel_many(thread_id=tid, run_ids=[queued["run_id"]])
    assert (await client.runs.get(tid, queued["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "running"
    await client.runs.cancel_many(status="running")
    await client.runs.join(tid, running["run_id"])
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] == "interrupted"  # steps left to run, as the reference


async def test_cancel_many_rollback_deletes(client, system):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "steps", input={"tag": "r", "delay": 5})
    await client.runs.cancel_many(thread_id=tid, run_ids=[run["run_id"]], action="rollback")
    wait_until(lambda: system.storage.get_run(run["run_id"]) is None)
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, run["run_id"])


async def test_cancel_many_bad_input(live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post("/runs/cancel", json={})
        assert r.status_code == 422 and "run_ids" in r.json()["detail"]
        r = await http.post("/runs/cancel", json={"status": "sleeping"})
        assert r.status_code == 422 and "status" in r.json()["detail"]
        r = await http.post("/runs/cancel?action=explode", json={"status": "all"})
        assert r.status_code == 422 and "action" in r.json()["detail"]
        r = await http.post("/runs/cancel", json={"run_ids": ["not-a-uuid"]})
        assert r.status_code == 422 and "run_ids[0]" in r.json()["detail"]
        r = await http.post("/runs/wait", json={"assistant_id": "one", "on_completion": "later"})
        assert r.status_code == 422 and "on_completion" in r.json()["detail"]
        r = await http.post("/runs", json={"assistant_id": "nope"})
        assert r.status_code == 422 and "Invalid assistant" in r.json()["detail"]
