"""Streaming over HTTP with the real langgraph-sdk client: every stream mode's SSE event names and
payloads, subgraph namespaces, errors, resumable streams with Last-Event-ID, on_disconnect."""

from __future__ import annotations

import json

import httpx
import pytest
from langgraph_sdk.errors import UnprocessableEntityError

from tests.api_support import system  # noqa: F401 - fixture
from tests.conftest import wait_until


async def _stream(client, graph: str, **kwargs):
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], graph, **kwargs)]
    return thread["thread_id"], parts


async def test_values_and_updates_like_the_reference(client):
    _, parts = await _stream(client, "steps", input={"tag": "s"}, stream_mode=["values", "updates"])
    assert [p.event for p in parts] == [
        "metadata", "values", "updates", "values", "updates", "values", "updates", "values"
    ]
    assert parts[0].data["attempt"] == 1
    assert parts[1].data == {"messages": [], "tag": "s"}
    assert parts[2].data == {"step0": {"messages": ["s:0"]}}
    assert parts[-1].data["messages"] == ["s:0", "s:1", "s:2"]


async def test_custom_debug_tasks_checkpoints(client):
    _, parts = await _stream(client, "custom", input={"tag": "c"}, stream_mode=["custom", "debug", "tasks", "checkpoints"])
    events = [p.event for p in parts]
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": 1}, {"progress": 2}]
    assert {"debug", "tasks", "checkpoints"} <= set(events)
    tasks = [p.data for p in parts if p.event == "tasks"]
    assert any(t.get("name") == "shout" and "result" in t for t in tasks)
    checkpoints = [p.data for p in parts if p.event == "checkpoints"]
    assert checkpoints[-1]["values"]["messages"] == ["custom:done"]


async def test_messages_tuple(client):
    _, parts = await _stream(client, "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="messages-tuple")
    chunks = [p.data for p in parts if p.event == "messages"]
    assert "".join(c[0]["content"] for c in chunks) == "hello big world"
    assert all(c[1]["langgraph_node"] == "chat" for c in chunks)


async def test_messages_partial_and_complete(client):
    _, parts = await _stream(client, "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="messages")
    events = [p.event for p in parts]
    assert events[1] == "messages/metadata"
    partial = [p.data[0]["content"] for p in parts if p.event == "messages/partial"]
    assert partial[0] == "hello" and partial[-1] == "hello big world"
    complete = [p.data for p in parts if p.event == "messages/complete"]
    assert complete[-1][0]["content"] == "hello big world"


async def test_messages_are_typed_as_messages_and_each_completes_when_it_ends(client):
    # Both references type partial messages "ai" (not "AIMessageChunk"); the JS one completes each
    # message on its own, right after its last token, not all of them at the end of the run.
    _, parts = await _stream(
        client, "chat_twice", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="messages"
    )
    shown = [(p.event, p.data[0]["content"]) for p in parts if p.event in ("messages/partial", "messages/complete")]
    assert shown == [
        ("messages/partial", "hello"), ("messages/partial", "hello "), ("messages/partial", "hello big"),
        ("messages/partial", "hello big "), ("messages/partial", "hello big world"),
        ("messages/complete", "hello big world"),
        ("messages/partial", "second"), ("messages/partial", "second "), ("messages/partial", "second one"),
        ("messages/complete", "second one"),
        ("messages/complete", "whole at once"),
    ]
    messages = [p.data[0] for p in parts if p.event in ("messages/partial", "messages/complete")]
    assert {m["type"] for m in messages} == {"ai"}
    assert not any("chunk_position" in m or "tool_call_chunks" in m for m in messages)
    metadata = [p.data for p in parts if p.event == "messages/metadata"]
    assert [next(iter(m.values()))["metadata"]["langgraph_node"] for m in metadata] == ["chat", "chat_again", "no_tokens"]
    assert [next(iter(m)) for m in metadata][2] == "whole-1"


async def test_debug_checkpoint_events_name_the_checkpoint_and_its_parent(client):
    tid, parts = await _stream(client, "nested", input={"tag": "d"}, stream_mode="debug", stream_subgraphs=True)
    checkpoints = [(p.event, p.data["payload"]) for p in parts if p.data.get("type") == "checkpoint"]
    assert len(checkpoints) >= 4
    for event, payload in checkpoints:
        configurable = payload["config"]["configurable"]
        assert payload["checkpoint"]["checkpoint_id"] == configurable["checkpoint_id"]
        assert payload["checkpoint"]["thread_id"] == tid
        assert payload["checkpoint"]["checkpoint_ns"] == configurable["checkpoint_ns"]
        if payload["parent_config"] is None:
            assert payload["parent_checkpoint"] is None
        else:
            assert payload["parent_checkpoint"]["checkpoint_id"] == payload["parent_config"]["configurable"]["checkpoint_id"]
    inner = [payload for event, payload in checkpoints if event.startswith("debug|child:")]
    assert inner and all(p["checkpoint"]["checkpoint_ns"].startswith("child:") for p in inner)
    assert all("checkpoint_map" in p["checkpoint"] for p in inner)
    # the task that runs the subgraph names its checkpoint namespace as the reference does
    [child_task] = [t for _, p in checkpoints for t in p["tasks"] if t["name"] == "child"]
    assert "state" not in child_task
    assert child_task["checkpoint"] == {"checkpoint_ns": f"child:{child_task['id']}", "thread_id": tid}


async def test_subgraph_events_carry_their_namespace(client):
    _, parts = await _stream(client, "nested", input={"tag": "n"}, stream_mode="updates", stream_subgraphs=True)
    names = [p.event for p in parts if p.event.startswith("updates")]
    assert names[0].startswith("updates|child:")
    inner = next(p for p in parts if p.event.startswith("updates|child:"))
    assert inner.data == {"inner_step": {"messages": ["inner:n"]}}
    assert "updates" in names  # the parent's own updates have no namespace


async def test_error_event_is_the_last(client):
    tid, parts = await _stream(client, "steps", input={"tag": "e", "fail_at": 1}, stream_mode="updates")
    assert [p.event for p in parts][-2:] == ["updates", "error"]
    assert parts[-1].data == {"error": "ValueError", "message": "step 1 failed on purpose"}
    assert (await client.threads.get(tid))["status"] == "error"


async def test_resumable_stream_replays_after_last_event_id(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = [p async for p in client.runs.stream(tid, "steps", input={"tag": "r"}, stream_mode="updates", stream_resumable=True)]
    ids = [p.id for p in parts]
    assert ids == [str(i) for i in range(len(ids))]
    run_id = parts[0].data["run_id"]
    replay = [p async for p in client.runs.join_stream(tid, run_id, last_event_id=ids[1])]
    assert [p.id for p in replay] == ids[2:]
    assert replay[0].data == {"step1": {"messages": ["r:1"]}}


async def _stream_then_leave(url: str, tid: str, body: dict) -> str:
    """Start a streamed run, read up to its `metadata` event, then disconnect; returns the run id."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            run_id = response.headers["content-location"].rsplit("/", 1)[1]
            async for line in response.aiter_lines():
                if line.startswith("event: metadata"):
                    break
    return run_id


async def test_on_disconnect_cancel_stops_the_run(client, live_server, system):
    tid = (await client.threads.create())["thread_id"]
    body = {"assistant_id": "steps", "input": {"tag": "d", "delay": 5}, "on_disconnect": "cancel"}
    run_id = await _stream_then_leave(live_server.url, tid, body)
    wait_until(lambda: system.storage.get_run(run_id).status == "interrupted")
    assert (await client.threads.get(tid))["error"] == {
        "error": "UserInterrupt", "message": "the client disconnected (on_disconnect=cancel)",
    }


async def test_on_disconnect_continue_keeps_running(client, live_server):
    tid = (await client.threads.create())["thread_id"]
    body = {"assistant_id": "steps", "input": {"tag": "k", "delay": 0.05}, "on_disconnect": "continue"}
    run_id = await _stream_then_leave(live_server.url, tid, body)
    assert (await client.runs.join(tid, run_id))["messages"] == ["k:0", "k:1", "k:2"]


async def test_events_mode_alone_and_with_others(client):
    _, parts = await _stream(client, "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="events")
    kinds = [p.data["event"] for p in parts if p.event == "events"]
    assert {p.event for p in parts} == {"metadata", "events"}
    assert kinds[0] == "on_chain_start" and "on_chat_model_stream" in kinds and kinds[-1] == "on_chain_end"
    # the graph's own output (root on_chain_stream) is not an event, as on the reference
    assert not [p for p in parts if p.event == "events" and p.data["event"] == "on_chain_stream" and not p.data["parent_ids"]]
    # the root run is the API's run, named after the graph, as on the reference
    root = next(p.data for p in parts if p.event == "events")
    assert (root["name"], root["run_id"]) == ("chat", parts[0].data["run_id"])
    inner = [p.data for p in parts if p.event == "events" and p.data["run_id"] != root["run_id"]]
    assert inner and all(e["parent_ids"][:1] == [root["run_id"]] for e in inner)
    _, parts = await _stream(client, "steps", input={"tag": "ev"}, stream_mode=["events", "updates"])
    assert [p.data for p in parts if p.event == "updates"] == [
        {"step0": {"messages": ["ev:0"]}}, {"step1": {"messages": ["ev:1"]}}, {"step2": {"messages": ["ev:2"]}}
    ]
    assert any(p.event == "events" for p in parts)


async def test_bad_stream_mode(client):
    thread = await client.threads.create()
    with pytest.raises(UnprocessableEntityError):
        async for _ in client.runs.stream(thread["thread_id"], "one", input={}, stream_mode="everything"):
            pass


async def test_wait_on_disconnect_cancel_stops_the_run(client, live_server, system):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    body = {"assistant_id": "steps", "input": {"tag": "w", "delay": 5}, "on_disconnect": "cancel"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"/threads/{tid}/runs/wait", json=body)
    [run] = system.storage.list_runs(tid)
    wait_until(lambda: system.storage.get_run(run.run_id).status == "interrupted")


def _frames(raw: bytes) -> list[dict[str, str]]:
    """SSE frames as the reference writes them: CRLF line ends, a blank line after each frame."""
    assert raw.endswith(b"\r\n\r\n") and b"\n\n" not in raw.replace(b"\r\n", b"")
    frames = []
    for block in raw.decode().split("\r\n\r\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.split("\r\n") if not line.startswith(":"))
        frames.append(fields)
    return frames


async def test_raw_streams_end_after_their_last_event_as_the_references(live_server):
    # No closing `end` frame on any stream: @langchain/langgraph-sdk before 1.10 parses every data
    # line as JSON and would throw on its empty data.
    body = {"assistant_id": "steps", "input": {"tag": "w"}, "stream_mode": "updates"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=20) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as r:
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
            headers = r.headers
        frames = _frames(raw)
        assert [f["event"] for f in frames] == ["metadata", "updates", "updates", "updates"]
        assert frames[-1]["data"] == '{"step2":{"messages":["w:2"]}}'
        run_id = json.loads(frames[0]["data"])["run_id"]
        assert headers["content-location"] == f"/threads/{tid}/runs/{run_id}"
        assert headers["location"] == f"/threads/{tid}/runs/{run_id}/stream"  # resumable or not, as the reference

        resumable = {**body, "stream_resumable": True}
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=resumable) as r:
            frames = _frames(b"".join([chunk async for chunk in r.aiter_raw()]))
        assert [f["id"] for f in frames] == ["0", "1", "2", "3"] and frames[-1]["event"] == "updates"
        run_id = json.loads(frames[0]["data"])["run_id"]
        async with http.stream("GET", f"/threads/{tid}/runs/{run_id}/stream", headers={"Last-Event-ID": "1"}) as r:
            joined = _frames(b"".join([chunk async for chunk in r.aiter_raw()]))
            assert r.headers["content-location"] == f"/threads/{tid}/runs/{run_id}"
            assert r.headers["location"] == f"/threads/{tid}/runs/{run_id}/stream"
        assert [f["id"] for f in joined] == ["2", "3"]

        async with http.stream("POST", "/runs/stream", json=body) as r:  # stateless
            assert [f["event"] for f in _frames(b"".join([c async for c in r.aiter_raw()]))][-1] == "updates"

        failing = {"assistant_id": "steps", "input": {"tag": "x", "fail_at": 0}, "stream_mode": "updates"}
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=failing) as r:
            last = _frames(b"".join([c async for c in r.aiter_raw()]))[-1]
        assert last == {"event": "error", "data": '{"error":"ValueError","message":"step 0 failed on purpose"}'}
