"""A system on the caller's own asyncio loop (`ActorSystem.on_running_loop`): no threads of its own,
the same double-texting semantics as a threaded system."""

from __future__ import annotations

import asyncio
import threading

import pytest

from actors import ActorSystem, NotFound, Settings, ThreadBusy
from tests.graphs.steps import GRAPHS, saw
from tests.helpers import SLOW_STEP, inp


async def until(predicate, timeout: float = 10.0) -> None:
    """Poll on the loop (the system answers through it, so blocking it would stall everything)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)


async def slow_run(system, tid, tag="a"):
    run = await system.aio.runs.create(tid, "steps", input={"messages": [], **inp(tag, slow_at=1, slow_delay=SLOW_STEP)})
    await until(lambda: saw(run["run_id"], 1, "start"))
    return run


async def test_double_texting_on_the_callers_loop_without_threads_of_its_own():
    before = {t.name for t in threading.enumerate()}
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        aio = system.aio
        tid = (await aio.threads.create())["thread_id"]
        # interrupt: the slow step is cancelled, the completed one stays
        a = await slow_run(system, tid)
        b = await aio.runs.create(tid, "steps", input=inp("b"), multitask_strategy="interrupt")
        assert (await aio.runs.join(tid, b["run_id"]))["messages"] == ["a:0", "b:0", "b:1", "b:2"]
        assert (await aio.runs.get(tid, a["run_id"]))["status"] == "interrupted"
        assert not saw(a["run_id"], 1, "end")
        # rollback: the stopped run and what it wrote are gone
        c = await slow_run(system, tid, "c")
        d = await aio.runs.create(tid, "one", input=inp("d"), multitask_strategy="rollback")
        assert (await aio.runs.join(tid, d["run_id"]))["messages"] == ["a:0", "b:0", "b:1", "b:2", "d:0"]
        with pytest.raises(NotFound):
            await aio.runs.get(tid, c["run_id"])
        # reject while busy; enqueue runs in order
        e = await slow_run(system, tid, "e")
        with pytest.raises(ThreadBusy):
            await aio.runs.create(tid, "one", input=inp("x"), multitask_strategy="reject")
        queued = [await aio.runs.create(tid, "one", input=inp(f"q{i}")) for i in range(3)]
        await aio.runs.cancel(tid, e["run_id"], wait=True)
        assert (await aio.runs.join(tid, queued[-1]["run_id"]))["messages"][-3:] == ["q0:0", "q1:0", "q2:0"]
        # no thread actor, run actor or pool worker got a thread of its own
        extra = {t.name for t in threading.enumerate()} - before
        assert not [n for n in extra if not n.startswith("switchboard-sync-node")], extra


async def test_idle_actors_are_passivated_and_threads_deleted_on_the_loop():
    async with ActorSystem.on_running_loop(GRAPHS, settings=Settings(idle_timeout=0.05)) as system:
        tid = (await system.aio.threads.create())["thread_id"]
        await system.aio.runs.wait(tid, "one", input={"messages": [], **inp("p")})
        await until(lambda: system.live_thread_actors() == 0)
        assert (await system.aio.runs.wait(tid, "one", input=inp("q")))["messages"] == ["p:0", "q:0"]
        run = await slow_run(system, tid, "r")
        await system.aio.threads.delete(tid)  # interrupts the run, then deletes the thread
        with pytest.raises(NotFound):
            await system.aio.threads.get(tid)
        assert not saw(run["run_id"], 1, "end")


async def test_the_sync_facade_refuses_to_block_the_loop_it_runs_on():
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        with pytest.raises(RuntimeError, match="system.aio"):
            system.threads.create()
        # from another thread it works (it waits; the loop keeps turning)
        thread = await asyncio.to_thread(system.threads.create)
        assert (await system.aio.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]


async def test_aclose_stops_what_is_running():
    system = ActorSystem.on_running_loop(GRAPHS)
    tid = (await system.aio.threads.create())["thread_id"]
    run = await slow_run(system, tid)
    await asyncio.wait_for(system.aclose(), 10)
    assert not saw(run["run_id"], 1, "end")


async def test_only_memory_storage_runs_on_the_callers_loop(tmp_path):
    with pytest.raises(ValueError, match="memory"):
        ActorSystem.on_running_loop(GRAPHS, settings=Settings(storage="sqlite", data_dir=str(tmp_path)))
