"""The thread actor is the only writer of its thread: a state update, a run's deletion, a prune and
the thread's status are handled in its mailbox, in order with the thread's runs.

On a system that runs on the test's own loop (`ActorSystem.on_running_loop`) nothing is handled
until the test awaits, so two requests sent back to back reach the thread actor in exactly that
order: each test sends a write and a run creation in both orders and checks the outcome the
mailbox order implies.
"""

from __future__ import annotations

import sqlite3

import pytest

from actors import ActorSystem, Conflict, InvalidInput, NotFound
from actors.kernel.runtime import wait_future
from tests.graphs.steps import GRAPHS
from tests.helpers import inp


async def _thread_with_history(system) -> str:
    tid = (await system.aio.threads.create())["thread_id"]
    await system.aio.runs.wait(tid, "one", input={"messages": [], **inp("a")})
    return tid


async def test_a_state_update_behind_an_accepted_run_is_refused():
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        ops = system.ops
        tid = await _thread_with_history(system)
        created = ops.create_run(tid, "one", input=inp("b"))
        updated = ops.update_state(tid, {"messages": ["u"]}, as_node="step0")
        with pytest.raises(Conflict):
            await wait_future(updated)
        run = await wait_future(created)
        assert (await system.aio.runs.join(tid, run.run_id))["messages"] == ["a:0", "b:0"]


async def test_a_run_behind_a_state_update_starts_after_it_was_written():
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        ops = system.ops
        tid = await _thread_with_history(system)
        updated = ops.update_state(tid, {"messages": ["u"]}, as_node="step0")
        created = ops.create_run(tid, "one", input=inp("b"), multitask_strategy="reject")
        assert (await wait_future(updated))["checkpoint"]["checkpoint_id"]
        run = await wait_future(created)
        assert (await system.aio.runs.join(tid, run.run_id))["messages"] == ["a:0", "u", "b:0"]
        assert (await system.aio.threads.get(tid))["status"] == "idle"


async def test_a_prune_behind_an_accepted_run_is_refused_and_a_run_behind_a_prune_keeps_its_steps():
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        ops = system.ops
        tid = await _thread_with_history(system)
        created = ops.create_run(tid, "one", input=inp("b"))
        pruned = ops.prune_checkpoints(tid)
        with pytest.raises(Conflict):
            await wait_future(pruned)
        await system.aio.runs.join(tid, (await wait_future(created)).run_id)
        # now the other order: the prune first, then a run, whose checkpoints the prune must not delete
        pruned = ops.prune_checkpoints(tid)
        created = ops.create_run(tid, "one", input=inp("c"))
        await wait_future(pruned)
        run = await wait_future(created)
        assert (await system.aio.runs.join(tid, run.run_id))["messages"] == ["a:0", "b:0", "c:0"]
        history = await system.aio.threads.get_history(tid, limit=100)
        assert len(history) > 1  # the run's own checkpoints are there, after the pruned one


async def test_deleting_a_run_just_submitted_is_refused_as_pending_then_allowed_once_it_ended():
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        ops = system.ops
        tid = (await system.aio.threads.create())["thread_id"]
        run = ops.prepare_run(tid, "one", input={"messages": [], **inp("a")})
        accepted = ops.submit_run(run)
        # behind the creation in the actor's mailbox: the run is pending there, not "not found"
        with pytest.raises(Conflict):
            await wait_future(ops.delete_run(tid, run.run_id))
        await wait_future(accepted)
        await system.aio.runs.join(tid, run.run_id)
        await system.aio.runs.delete(tid, run.run_id)
        with pytest.raises(NotFound):
            await system.aio.runs.get(tid, run.run_id)


def test_deleting_an_assistant_with_its_threads_from_the_embedded_facade():
    with ActorSystem(GRAPHS) as system:
        assistant = system.assistants.create("one")
        mine = system.threads.create()["thread_id"]
        system.runs.wait(mine, assistant["assistant_id"], input={"messages": [], **inp("a")})
        other = system.threads.create()["thread_id"]
        system.runs.wait(other, "one", input={"messages": [], **inp("b")})
        system.assistants.delete(assistant["assistant_id"], delete_threads=True)
        with pytest.raises(NotFound):
            system.threads.get(mine)
        assert system.threads.get(other)["thread_id"] == other


async def test_a_storage_failure_in_update_state_is_not_blamed_on_the_request(monkeypatch):
    async with ActorSystem.on_running_loop(GRAPHS) as system:
        tid = await _thread_with_history(system)

        async def unavailable(*args, **kwargs):
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(system.storage.checkpointer, "aput", unavailable)
        with pytest.raises(sqlite3.OperationalError):
            await system.aio.threads.update_state(tid, {"messages": ["u"]}, as_node="step0")
        # a request fault is still a 422
        monkeypatch.undo()
        with pytest.raises(InvalidInput, match="no_such_node"):
            await system.aio.threads.update_state(tid, {"messages": ["u"]}, as_node="no_such_node")
