"""The embedded facade mirrors the SDK: assistants, threads (state, history, copy) and runs, sync and async."""

from __future__ import annotations

import pytest

from actors import NotFound
from tests.helpers import inp


def test_sync_assistants_threads_state_and_history(system):
    assistants = system.assistants.search(graph_id="one")
    assert assistants and assistants[0]["graph_id"] == "one"
    assert system.assistants.get("one")["assistant_id"] == assistants[0]["assistant_id"]
    assert "one" in {a["graph_id"] for a in system.assistants.search(limit=100)}

    tid = system.threads.create(metadata={"k": "v"})["thread_id"]
    system.runs.wait(tid, "one", input={"messages": [], **inp("a")})
    system.runs.wait(tid, "one", input=inp("b"))
    assert system.threads.get_state(tid)["values"]["messages"] == ["a:0", "b:0"]
    history = system.threads.get_history(tid, limit=50)
    assert len(history) >= 4 and history[0]["values"]["messages"] == ["a:0", "b:0"]
    updated = system.threads.update_state(tid, {"messages": ["edited"]}, as_node="step0")
    assert updated["checkpoint"]["checkpoint_id"]
    assert system.threads.get_state(tid)["values"]["messages"] == ["a:0", "b:0", "edited"]
    copy = system.threads.copy(tid)
    assert system.threads.get_state(copy["thread_id"])["values"]["messages"] == ["a:0", "b:0", "edited"]
    assert system.threads.search(metadata={"k": "v"}, limit=100)[0]["metadata"]["k"] == "v"
    system.threads.delete(copy["thread_id"])
    with pytest.raises(NotFound):
        system.threads.get(copy["thread_id"])


async def test_async_faces_return_the_same_shapes(system):
    assistant = await system.aio.assistants.get("one")
    thread = await system.aio.threads.create()
    run = await system.aio.runs.create(thread["thread_id"], assistant["assistant_id"], input={"messages": [], **inp("c")})
    assert (await system.aio.runs.join(thread["thread_id"], run["run_id"]))["messages"] == ["c:0"]
    assert [r["run_id"] for r in await system.aio.runs.list(thread["thread_id"])] == [run["run_id"]]
    assert (await system.aio.threads.get_state(thread["thread_id"]))["values"]["messages"] == ["c:0"]
    assert len(await system.aio.threads.get_history(thread["thread_id"])) >= 2
    schemas = await system.aio.assistants.get_schemas("one")
    assert "input_schema" in schemas


async def test_async_threads_join_stream_follows_runs_until_the_thread_is_deleted(system):
    import asyncio

    from tests.conftest import wait_until

    tid = (await system.aio.threads.create())["thread_id"]
    seen: list[tuple[str, object]] = []

    async def follow():
        async for event, data in system.aio.threads.join_stream(tid, stream_mode="lifecycle"):
            seen.append((event, data))

    reader = asyncio.create_task(follow())
    await asyncio.to_thread(wait_until, lambda: system.ctx.streams.followers(tid) == 1)
    run = await system.aio.runs.wait(tid, "one", input={"messages": [], **inp("f")})
    assert run["messages"] == ["f:0"]
    await asyncio.to_thread(wait_until, lambda: len(seen) == 2)
    await system.aio.threads.delete(tid)
    await asyncio.wait_for(reader, 10)  # the stream ended with the thread
    assert [e for e, _ in seen] == ["metadata", "metadata"] and seen[1][1]["status"] == "run_done"


async def test_stateless_wait_returns_the_output_although_its_thread_is_deleted_at_the_end(system):
    # The thread of a stateless run goes when the run ends: a wait must be watching before that.
    for i in range(200):
        assert system.runs.wait(None, "one", input={"messages": [], **inp(f"s{i}")})["messages"] == [f"s{i}:0"]
    for i in range(50):
        assert (await system.aio.runs.wait(None, "one", input={"messages": [], **inp(f"a{i}")}))["messages"] == [f"a{i}:0"]


async def test_sync_and_async_streams_share_one_create_sequence_and_refuse_a_busy_thread_alike(system):
    """`system.runs.stream` and `system.aio.runs.stream` are the door's `stream_run`: a refused run
    raises before any event, and leaves no stream open behind it."""
    import asyncio

    from actors import ThreadBusy
    from tests.conftest import wait_until
    from tests.graphs.steps import saw

    tid = (await system.aio.threads.create())["thread_id"]
    busy = await system.aio.runs.create(tid, "steps", input={"messages": [], **inp("a", slow_at=0, slow_delay=0.5)})
    await asyncio.to_thread(wait_until, lambda: saw(busy["run_id"], 0, "start"))
    open_streams = len(system.ctx.streams)
    with pytest.raises(ThreadBusy):
        await asyncio.to_thread(lambda: next(iter(system.runs.stream(tid, "steps", input=inp("s"), multitask_strategy="reject"))))
    with pytest.raises(ThreadBusy):
        async for _ in system.aio.runs.stream(tid, "steps", input=inp("t"), multitask_strategy="reject"):
            pass
    assert len(system.ctx.streams) <= open_streams
    await system.aio.runs.join(tid, busy["run_id"])
    assert [r["run_id"] for r in await system.aio.runs.list(tid)] == [busy["run_id"]]
    events = await asyncio.to_thread(lambda: [e for e, _ in system.runs.stream(tid, "steps", input=inp("u"))])
    assert events[0] == "metadata" and "values" in events
