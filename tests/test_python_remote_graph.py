"""LangGraph's Python `RemoteGraph` (langgraph.pregel.remote) against a real uvicorn: the Python side
of the client matrix (the latest `langgraph-sdk` underneath). Invoke, every stream mode with
subgraphs, state, human in the loop, errors."""

from __future__ import annotations

import pytest
from langgraph.pregel.remote import RemoteException, RemoteGraph
from langgraph.types import Command

from tests.api_support import system  # noqa: F401 - fixture


@pytest.fixture
def remote(live_server):
    return lambda graph_id: RemoteGraph(graph_id, url=live_server.url)


async def _thread(client) -> dict:
    return {"configurable": {"thread_id": (await client.threads.create())["thread_id"]}}


async def test_invoke_returns_the_final_values(remote, client):
    values = await remote("chat_twice").ainvoke({"messages": [{"role": "user", "content": "hi"}]}, await _thread(client))
    assert [m["content"] for m in values["messages"]] == ["hi", "hello big world", "second one", "whole at once"]


async def test_stream_every_mode_with_subgraphs(remote, client):
    chunks = [
        chunk
        async for chunk in remote("nested").astream(
            {"tag": "r"}, await _thread(client), stream_mode=["values", "updates", "debug", "custom", "messages"], subgraphs=True
        )
    ]
    modes = {mode for _ns, mode, _data in chunks}
    assert {"values", "updates", "debug"} <= modes
    inner = [data for ns, mode, data in chunks if ns and mode == "updates"]
    assert inner == [{"inner_step": {"messages": ["inner:r"]}}]
    assert [data for ns, mode, data in chunks if not ns and mode == "values"][-1]["messages"] == ["inner:r", "outer:after"]


async def test_messages_stream_as_message_chunks(remote, client):
    chunks = [
        chunk async for chunk in remote("chat").astream(
            {"messages": [{"role": "user", "content": "hi"}]}, await _thread(client), stream_mode="messages"
        )
    ]
    assert chunks and all(isinstance(c, tuple) and len(c) == 2 for c in chunks)


async def test_human_in_the_loop_interrupt_then_resume(remote, client):
    config = await _thread(client)
    graph = remote("hitl")
    paused = await graph.ainvoke({"tag": "p"}, config)  # at the top level the pause is in the values
    assert [i.value if hasattr(i, "value") else i["value"] for i in paused["__interrupt__"]] == [{"question": "approve?"}]
    assert (await graph.aget_state(config)).next == ("ask",)
    assert (await graph.ainvoke(Command(resume="ok"), config))["messages"] == ["answer:ok"]


async def test_a_failing_node_raises_remote_exception(remote, client):
    with pytest.raises(RemoteException) as err:
        await remote("steps").ainvoke({"tag": "e", "fail_at": 0}, await _thread(client))
    assert "step 0 failed on purpose" in str(err.value)


async def test_state_at_a_checkpoint_named_by_id_only(remote, client):
    # The time-travel config people write ({thread_id, checkpoint_id}): the reference answers with a
    # checkpoint lacking checkpoint_ns and RemoteGraph fails on it (KeyError); switchboard names it.
    config = await _thread(client)
    graph = remote("steps")
    await graph.ainvoke({"tag": "t"}, config)
    history = [s async for s in graph.aget_state_history(config)]
    earlier = history[1].config["configurable"]["checkpoint_id"]
    at = await graph.aget_state({"configurable": {**config["configurable"], "checkpoint_id": earlier}})
    assert at.config["configurable"]["checkpoint_id"] == earlier
    assert at.values == history[1].values
