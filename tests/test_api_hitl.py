"""Human in the loop over HTTP with the real langgraph-sdk client: `interrupt()` pauses the run,
the thread and its state show the interrupt, and `command={"resume": ...}` continues it."""

from __future__ import annotations

import httpx

from tests.api_support import system  # noqa: F401 - fixture


async def test_interrupt_pauses_and_resume_continues(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "hitl", input={"tag": "h"})
    [interrupt] = paused["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?"} and interrupt["id"]
    t = await client.threads.get(tid)
    assert t["status"] == "interrupted"
    assert [i["id"] for v in t["interrupts"].values() for i in v] == [interrupt["id"]]
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ask"]
    assert state["interrupts"] == [interrupt]
    assert state["tasks"][0]["interrupts"] == [interrupt]
    run = await client.runs.create(tid, "hitl", command={"resume": "ok"})
    assert await client.runs.join(tid, run["run_id"]) == {"tag": "h", "messages": ["answer:ok"]}
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    t = await client.threads.get(tid)
    assert t["status"] == "idle" and t["interrupts"] == {}
    assert (await client.threads.get_state(tid))["next"] == []


async def test_resume_while_streaming(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = [p async for p in client.runs.stream(tid, "hitl", input={"tag": "s"}, stream_mode="updates")]
    assert first[-1].event == "updates" and "__interrupt__" in first[-1].data
    second = [p async for p in client.runs.stream(tid, "hitl", command={"resume": "go"}, stream_mode="updates")]
    assert [p.event for p in second] == ["metadata", "updates"]
    assert second[1].data == {"ask": {"messages": ["answer:go"]}}


async def test_resume_by_interrupt_id(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "hitl", input={"tag": "i"})
    interrupt_id = paused["__interrupt__"][0]["id"]
    done = await client.runs.wait(tid, "hitl", command={"resume": {interrupt_id: "by-id"}})
    assert done["messages"] == ["answer:by-id"]


async def test_input_and_command_together_is_refused(client, live_server):
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post(
            f"/threads/{thread['thread_id']}/runs",
            json={"assistant_id": "hitl", "input": {"tag": "x"}, "command": {"resume": 1}},
        )
        assert r.status_code == 422 and "command" in r.json()["detail"]
        r = await http.post(f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "hitl", "command": "resume"})
        assert r.status_code == 422 and "command" in r.json()["detail"]
