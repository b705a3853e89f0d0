"""Threads over HTTP with the real langgraph-sdk client: CRUD, search/count/prune/copy, state at a
checkpoint, update_state with as_node, history, and joining a thread's stream."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.api_support import system  # noqa: F401 - fixture
from tests.conftest import wait_until


async def test_create_with_id_and_if_exists(client):
    thread = await client.threads.create(metadata={"k": "v"})
    with pytest.raises(ConflictError):
        await client.threads.create(thread_id=thread["thread_id"])
    same = await client.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing", metadata={"k": "other"})
    assert same["metadata"] == {"k": "v"}
    patched = await client.threads.update(thread["thread_id"], metadata={"more": 1})
    assert patched["metadata"] == {"k": "v", "more": 1}


async def test_search_by_metadata_status_values_and_sort(client):
    marker = {"suite": "thread-search"}
    done = await client.threads.create(metadata={**marker, "n": 1})
    await client.runs.wait(done["thread_id"], "one", input={"tag": "sv"})
    waiting = await client.threads.create(metadata={**marker, "n": 2})
    await client.runs.wait(waiting["thread_id"], "hitl", input={"tag": "h"})
    fresh = await client.threads.create(metadata={**marker, "n": 3})
    assert await client.threads.count(metadata=marker) == 3
    assert [t["thread_id"] for t in await client.threads.search(metadata=marker, status="interrupted")] == [waiting["thread_id"]]
    assert [t["thread_id"] for t in await client.threads.search(metadata=marker, values={"tag": "sv"})] == [done["thread_id"]]
    assert await client.threads.count(metadata=marker, status="idle") == 2
    asc = await client.threads.search(metadata=marker, sort_by="created_at", sort_order="asc")
    assert [t["metadata"]["n"] for t in asc] == [1, 2, 3]
    page = await client.threads.search(metadata=marker, sort_by="created_at", sort_order="asc", limit=1, offset=2)
    assert [t["thread_id"] for t in page] == [fresh["thread_id"]]
    by_ids = await client.threads.search(ids=[fresh["thread_id"], done["thread_id"]])
    assert {t["thread_id"] for t in by_ids} == {fresh["thread_id"], done["thread_id"]}


async def test_thread_values_and_interrupts_kept_current(client):
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], "hitl", input={"tag": "q"})
    t = await client.threads.get(thread["thread_id"])
    assert t["status"] == "interrupted"
    [(task_id, interrupts)] = t["interrupts"].items()
    assert interrupts[0]["value"] == {"question": "approve?"}
    await client.runs.wait(thread["thread_id"], "hitl", command={"resume": "yes"})
    t = await client.threads.get(thread["thread_id"])
    assert t["status"] == "idle" and t["interrupts"] == {}
    assert t["values"]["messages"] == ["answer:yes"]


async def test_state_at_checkpoint_and_history(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "h"})
    history = await client.threads.get_history(tid, limit=10)
    # input, then one checkpoint per step: newest first
    assert [len(s["values"].get("messages", [])) for s in history] == [3, 2, 1, 0, 0]
    assert history[0]["next"] == [] and history[-1]["next"] == ["__start__"]
    middle = history[2]
    at = await client.threads.get_state(tid, checkpoint_id=middle["checkpoint"]["checkpoint_id"])
    assert at["values"]["messages"] == ["h:0"]
    assert at["next"] == ["step1"]
    at2 = await client.threads.get_state(tid, checkpoint={"checkpoint_id": middle["checkpoint"]["checkpoint_id"]})
    assert at2["values"] == at["values"]
    older = await client.threads.get_history(tid, limit=2, before={"checkpoint_id": middle["checkpoint"]["checkpoint_id"]})
    assert [len(s["values"].get("messages", [])) for s in older] == [0, 0]
    step1 = await client.threads.get_history(tid, metadata={"step": 1})
    assert [s["metadata"]["step"] for s in step1] == [1]
    async with httpx.AsyncClient(base_url=client.http.client.base_url) as http:
        r = await http.get(f"/threads/{tid}/history", params={"limit": 2})
        assert r.status_code == 200 and len(r.json()) == 2
    with pytest.raises(NotFoundError):
        await client.threads.get_state(tid, checkpoint_id="1f0-nope")


async def test_update_state_as_node_then_continue(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "u"}, interrupt_before=["step2"])
    state = await client.threads.get_state(tid)
    assert state["next"] == ["step2"]
    updated = await client.threads.update_state(tid, {"messages": ["edited"]}, as_node="step1")
    assert updated["checkpoint"]["checkpoint_id"]
    t = await client.threads.get(tid)
    assert t["values"]["messages"] == ["u:0", "u:1", "edited"]
    final = await client.runs.wait(tid, "steps", input=None)
    assert final["messages"] == ["u:0", "u:1", "edited", "u:2"]


async def test_update_state_errors(client):
    fresh = await client.threads.create()
    with pytest.raises(UnprocessableEntityError) as no_graph:
        await client.threads.update_state(fresh["thread_id"], {"messages": ["x"]})
    assert "graph" in no_graph.value.response.json()["detail"]
    ran = await client.threads.create()
    await client.runs.wait(ran["thread_id"], "one", input={"tag": "e"})
    with pytest.raises(UnprocessableEntityError):
        await client.threads.update_state(ran["thread_id"], {"messages": ["x"]}, as_node="no_such_node")
    with pytest.raises(NotFoundError):
        await client.threads.update_state("00000000-0000-0000-0000-000000000000", {"messages": ["x"]})
    busy = await client.runs.create(ran["thread_id"], "steps", input={"tag": "b", "delay": 5})
    with pytest.raises(ConflictError):
        await client.threads.update_state(ran["thread_id"], {"messages": ["x"]})
    await client.runs.cancel(ran["thread_id"], busy["run_id"], wait=True)


async def test_copy_keeps_checkpoints_and_diverges(client):
    thread = await client.threads.create(metadata={"orig": True})
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "c"})
    copy = await client.threads.copy(tid)
    assert copy["thread_id"] != tid and copy["metadata"]["orig"] is True
    original_history = await client.threads.get_history(tid)
    copied_history = await client.threads.get_history(copy["thread_id"])
    assert [s["values"] for s in copied_history] == [s["values"] for s in original_history]
    assert all(s["checkpoint"]["thread_id"] == copy["thread_id"] for s in copied_history)
    await client.runs.wait(copy["thread_id"], "one", input={"tag": "d"})
    assert (await client.threads.get_state(copy["thread_id"]))["values"]["messages"][-1] == "d:0"
    assert (await client.threads.get_state(tid))["values"]["messages"] == ["c:0", "c:1", "c:2"]


async def test_prune_delete_and_keep_latest(client):
    a = await client.threads.create()
    b = await client.threads.create()
    await client.runs.wait(b["thread_id"], "steps", input={"tag": "p"})
    result = await client.threads.prune([a["thread_id"], "00000000-0000-0000-0000-000000000000"])
    assert result == {"pruned_count": 1}
    with pytest.raises(NotFoundError):
        await client.threads.get(a["thread_id"])
    assert await client.threads.prune([b["thread_id"]], strategy="keep_latest") == {"pruned_count": 1}
    history = await client.threads.get_history(b["thread_id"])
    assert len(history) == 1 and history[0]["values"]["messages"] == ["p:0", "p:1", "p:2"]
    assert (await client.threads.get_state(b["thread_id"]))["values"]["messages"] == ["p:0", "p:1", "p:2"]


async def test_delete_cancels_running_run(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "steps", input={"tag": "z", "delay": 5})
    await client.threads.delete(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(thread["thread_id"], run["run_id"])
    with pytest.raises(NotFoundError):
        await client.threads.get(thread["thread_id"])


async def _follow(client, tid, until, **kwargs):
    """Read the thread's stream until `until(events)`; the reader then leaves (the stream itself
    never ends while the thread exists)."""
    events = []
    async for part in await client.threads.join_stream(tid, **kwargs):
        events.append(part)
        if until(events):
            return events
    return events


def _run_done(events):
    return [p.data["run_id"] for p in events if p.event == "metadata" and p.data.get("status") == "run_done"]


async def _following(system, tid):
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) > 0)


async def test_join_thread_stream_follows_every_run_from_now_on(client, system):
    tid = (await client.threads.create())["thread_id"]
    reader = asyncio.create_task(_follow(client, tid, lambda ev: len(_run_done(ev)) == 2))
    await _following(system, tid)
    first = await client.runs.create(tid, "steps", input={"tag": "j", "delay": 0.2})
    second = await client.runs.create(tid, "one", input={"tag": "k"})
    events = await asyncio.wait_for(reader, 20)
    starts = [p.data["run_id"] for p in events if p.event == "metadata" and "attempt" in p.data]
    assert starts == [first["run_id"], second["run_id"]]
    assert _run_done(events) == [first["run_id"], second["run_id"]]
    assert [p.data for p in events if p.event == "values"][-1]["messages"][-1] == "k:0"
    # the reader left: nobody follows the thread any more
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) == 0)


async def test_join_thread_stream_lifecycle_and_state_update_modes(client, system):
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "s"})
    lifecycle = asyncio.create_task(_follow(client, tid, lambda ev: len(_run_done(ev)) == 1, stream_mode="lifecycle"))
    updates = asyncio.create_task(_follow(client, tid, lambda ev: len(ev) == 1, stream_mode=["state_update"]))
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) == 2)
    await client.threads.update_state(tid, {"messages": ["edited"]}, as_node="step2")
    run = await client.runs.create(tid, "one", input={"tag": "t"})
    got = await asyncio.wait_for(lifecycle, 20)
    assert [p.event for p in got] == ["metadata", "metadata"]  # start and end, nothing else
    assert got[0].data["run_id"] == run["run_id"] and _run_done(got) == [run["run_id"]]
    (update,) = await asyncio.wait_for(updates, 20)
    assert update.event == "state_update" and update.data["thread_id"] == tid
    assert update.data["state"]["values"]["messages"][-1] == "edited"


async def test_join_thread_stream_reconnect_with_last_event_id_gets_what_it_missed(client, system):
    tid = (await client.threads.create())["thread_id"]
    first = asyncio.create_task(_follow(client, tid, lambda ev: len(_run_done(ev)) == 1, stream_mode="lifecycle"))
    await _following(system, tid)
    a = await client.runs.create(tid, "one", input={"tag": "a"})
    seen = await asyncio.wait_for(first, 20)
    assert _run_done(seen) == [a["run_id"]] and seen[-1].id is not None
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) == 0)
    # while nobody reads, another run comes and goes
    b = await client.runs.create(tid, "one", input={"tag": "b"})
    await client.runs.join(tid, b["run_id"])
    missed = await asyncio.wait_for(
        _follow(client, tid, lambda ev: len(_run_done(ev)) == 1, stream_mode="lifecycle", last_event_id=seen[-1].id), 20
    )
    assert [p.data["run_id"] for p in missed] == [b["run_id"], b["run_id"]]  # its start and its end
    assert all(int(p.id) > int(seen[-1].id) for p in missed)
    # a new reader without Last-Event-ID starts from now: nothing is replayed to it
    fresh = asyncio.create_task(_follow(client, tid, lambda ev: True, stream_mode="lifecycle"))
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) == 1)
    c = await client.runs.create(tid, "one", input={"tag": "c"})
    (start,) = await asyncio.wait_for(fresh, 20)
    assert start.data["run_id"] == c["run_id"]


async def test_join_thread_stream_ends_when_the_thread_is_deleted(client, system):
    tid = (await client.threads.create())["thread_id"]
    reader = asyncio.create_task(_follow(client, tid, lambda ev: False))
    await _following(system, tid)
    await client.threads.delete(tid)
    events = await asyncio.wait_for(reader, 20)
    assert events == []


async def test_thread_bad_input(client, live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post("/threads", json={"thread_id": "nope"})
        assert r.status_code == 422 and "thread_id" in r.json()["detail"]
        r = await http.post("/threads/search", json={"status": "sleeping"})
        assert r.status_code == 422 and "status" in r.json()["detail"]
        r = await http.post("/threads/count", json={"metadata": {"tags": {"$regex": "x"}}})
        assert r.status_code == 422 and "metadata.tags" in r.json()["detail"] and "$regex" in r.json()["detail"]
        r = await http.post("/threads/prune", json={"thread_ids": "x"})
        assert r.status_code == 422 and "thread_ids" in r.json()["detail"]
        r = await http.post("/threads/prune", json={"thread_ids": [], "strategy": "all"})
        assert r.status_code == 422 and "strategy" in r.json()["detail"]
        r = await http.post("/threads/00000000-0000-0000-0000-000000000000/history", json={"limit": "many"})
        assert r.status_code == 422 and "limit" in r.json()["detail"]
        r = await http.post("/threads/00000000-0000-0000-0000-000000000000/copy")
        assert r.status_code == 404
        r = await http.get("/threads/00000000-0000-0000-0000-000000000000/stream")
        assert r.status_code == 404
        thread = (await http.post("/threads", json={})).json()
        r = await http.get(f"/threads/{thread['thread_id']}/stream", params={"stream_mode": "everything"})
        assert r.status_code == 422 and "stream_mode" in r.json()["detail"]


async def test_create_with_supersteps(client):
    thread = await client.threads.create(
        graph_id="steps",
        supersteps=[
            {"updates": [{"values": {"tag": "s", "messages": ["s:0"]}, "as_node": "step0"}]},
            {"updates": [{"values": {"messages": ["s:1"]}, "as_node": "step1"}]},
        ],
    )
    tid = thread["thread_id"]
    assert thread["values"]["messages"] == ["s:0", "s:1"]
    assert (await client.threads.get_state(tid))["next"] == ["step2"]
    assert len(await client.threads.get_history(tid)) == 2
    final = await client.runs.wait(tid, "steps", input=None)
    assert final["messages"] == ["s:0", "s:1", "s:2"]
    with pytest.raises(UnprocessableEntityError):
        await client.threads.create(supersteps=[{"updates": [{"values": {}, "as_node": "step0"}]}])


async def test_search_select_fields(client, live_server):
    thread = await client.threads.create(metadata={"suite": "select"})
    found = await client.threads.search(metadata={"suite": "select"}, select=["thread_id", "status"])
    assert found == [{"thread_id": thread["thread_id"], "status": "idle"}]
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post("/threads/search", json={"metadata": {"suite": "select"}, "select": ["colour"]})
        assert r.status_code == 422 and "select" in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/threads/{t}", {"metadata": 1}, "metadata"),
        ("POST", "/threads/{t}/state", {"values": "x"}, "values"),
        ("POST", "/threads/{t}/state", {"values": {}, "as_node": 3}, "as_node"),
        ("POST", "/threads/{t}/state/checkpoint", {}, "checkpoint"),
        ("POST", "/threads/{t}/state/checkpoint", {"checkpoint": {"checkpoint_id": 5}}, "checkpoint_id"),
        ("POST", "/threads/count", {"status": 3}, "status"),
        ("POST", "/threads/search", {"sort_order": "up"}, "sort_order"),
        ("GET", "/threads/{t}/state?subgraphs=maybe", None, "subgraphs"),
        ("GET", "/threads/{t}/history?limit=0", None, "limit"),
        ("POST", "/threads", {"supersteps": [{"updates": "x"}]}, "updates"),
    ],
)
async def test_bad_field_is_named(client, live_server, method, path, body, field):
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.request(method, path.format(t=thread["thread_id"]), json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]
