"""Thread and run actors driven through the embedded facade (no HTTP): the double-texting semantics."""

from __future__ import annotations

import pytest

from actors import ActorSystem, NotFound, Settings, ThreadBusy
from tests.conftest import wait_until
from tests.graphs.steps import GRAPHS, events, saw
from tests.helpers import SLOW_STEP, inp


def start_slow_run(system, thread_id, tag="a", graph="steps", slow_at=1):
    """A run whose step `slow_at` takes a minute; returns once that step has started."""
    run = system.runs.create(thread_id, graph, input={"messages": [], **inp(tag, slow_at=slow_at, slow_delay=SLOW_STEP)})
    wait_until(lambda: saw(run["run_id"], slow_at, "start"))
    return run


def new_thread(system):
    return system.threads.create()["thread_id"]


def test_interrupt_stops_mid_step_and_keeps_completed_steps(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    b = system.runs.create(tid, "steps", input=inp("b"), multitask_strategy="interrupt")
    state = system.runs.join(tid, b["run_id"])
    assert state["messages"] == ["a:0", "b:0", "b:1", "b:2"]
    assert system.runs.get(tid, a["run_id"])["status"] == "interrupted"
    assert system.runs.get(tid, b["run_id"])["status"] == "success"
    assert not saw(a["run_id"], 1, "end"), "the slow step must be cancelled, not waited for"
    assert system.threads.get(tid)["status"] == "idle"


def test_rollback_deletes_the_run_and_everything_it_wrote(system):
    tid = new_thread(system)
    system.runs.wait(tid, "one", input={"messages": [], **inp("before")})
    a = start_slow_run(system, tid)
    b = system.runs.create(tid, "steps", input=inp("b"), multitask_strategy="rollback")
    state = system.runs.join(tid, b["run_id"])
    assert state["messages"] == ["before:0", "b:0", "b:1", "b:2"]
    with pytest.raises(NotFound):
        system.runs.get(tid, a["run_id"])
    checkpoints = list(system.storage.checkpointer.list({"configurable": {"thread_id": tid}}))
    assert checkpoints and all(c.metadata.get("run_id") != a["run_id"] for c in checkpoints)
    assert all(r["run_id"] != a["run_id"] for r in system.runs.list(tid, limit=100))


def test_enqueue_runs_one_after_another_in_arrival_order(system):
    tid = new_thread(system)
    runs = [system.runs.create(tid, "one", input={"messages": [], **inp(f"e{i}", delay=0.01)}) for i in range(6)]
    state = system.runs.join(tid, runs[-1]["run_id"])
    assert state["messages"] == [f"e{i}:0" for i in range(6)]
    spans = []
    for run in runs:
        assert system.runs.get(tid, run["run_id"])["status"] == "success"
        times = [t for _, _, t in events(run["run_id"])]
        spans.append((min(times), max(times)))
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:])), "runs overlapped"


def test_reject_refuses_a_busy_thread_and_the_active_run_continues(system):
    tid = new_thread(system)
    a = system.runs.create(tid, "steps", input={"messages": [], **inp("a", slow_at=0, slow_delay=0.3)})
    wait_until(lambda: saw(a["run_id"], 0, "start"))
    with pytest.raises(ThreadBusy):
        system.runs.create(tid, "steps", input=inp("r"), multitask_strategy="reject")
    assert system.runs.join(tid, a["run_id"])["messages"] == ["a:0", "a:1", "a:2"]
    assert system.runs.get(tid, a["run_id"])["status"] == "success"
    assert len(system.runs.list(tid)) == 1


def test_interrupt_supersedes_runs_queued_behind_the_active_one(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    queued = system.runs.create(tid, "steps", input=inp("q"))
    c = system.runs.create(tid, "steps", input=inp("c"), multitask_strategy="interrupt")
    assert system.runs.join(tid, c["run_id"])["messages"] == ["a:0", "c:0", "c:1", "c:2"]
    assert system.runs.get(tid, queued["run_id"])["status"] == "interrupted"
    assert events(queued["run_id"]) == [], "a superseded queued run never executes"
    assert system.runs.get(tid, a["run_id"])["status"] == "interrupted"


def test_rollback_deletes_runs_queued_behind_the_active_one(system):
    tid = new_thread(system)
    start_slow_run(system, tid)
    queued = system.runs.create(tid, "steps", input=inp("q"))
    c = system.runs.create(tid, "steps", input=inp("c"), multitask_strategy="rollback")
    assert system.runs.join(tid, c["run_id"])["messages"] == ["c:0", "c:1", "c:2"]
    with pytest.raises(NotFound):
        system.runs.get(tid, queued["run_id"])
    with pytest.raises(NotFound):
        system.runs.join(tid, queued["run_id"])


def test_a_node_that_raises_ends_the_run_in_error_and_the_thread_lives_on(system):
    tid = new_thread(system)
    run = system.runs.create(tid, "steps", input={"messages": [], **inp("x", fail_at=1)})
    output = system.runs.join(tid, run["run_id"])
    assert output == {"__error__": {"error": "ValueError", "message": "step 1 failed on purpose"}}
    assert system.runs.get(tid, run["run_id"])["status"] == "error"
    assert system.threads.get(tid)["status"] == "error"
    after = system.runs.wait(tid, "one", input=inp("ok"))
    assert after["messages"] == ["x:0", "ok:0"]
    assert system.threads.get(tid)["status"] == "idle"


def test_a_blocking_sync_step_is_waited_for_and_its_result_discarded(system):
    tid = new_thread(system)
    a = system.runs.create(tid, "sync_steps", input={"messages": [], **inp("a", slow_at=0, slow_delay=0.4)})
    wait_until(lambda: saw(a["run_id"], 0, "start"))
    b = system.runs.create(tid, "sync_steps", input=inp("b"), multitask_strategy="interrupt")
    state = system.runs.join(tid, b["run_id"])
    assert state["messages"] == ["b:0", "b:1", "b:2"], "the cancelled step's output is discarded"
    a_end = max(t for step, what, t in events(a["run_id"]) if what == "end")
    b_start = min(t for _, _, t in events(b["run_id"]))
    assert a_end <= b_start, "a step of the old run executed after the new run began"
    assert system.runs.get(tid, a["run_id"])["status"] == "interrupted"


def test_human_in_the_loop_pauses_then_resumes_with_a_command(system):
    tid = new_thread(system)
    paused = system.runs.wait(tid, "hitl", input={"messages": []})
    assert paused["__interrupt__"][0]["value"] == {"question": "approve?"}
    assert system.threads.get(tid)["status"] == "interrupted"
    resumed = system.runs.wait(tid, "hitl", command={"resume": "yes"})
    assert resumed["messages"] == ["answer:yes"]
    assert system.threads.get(tid)["status"] == "idle"


def test_join_of_a_run_that_already_finished_returns_its_final_state(system):
    tid = new_thread(system)
    run = system.runs.create(tid, "one", input={"messages": [], **inp("j")})
    first = system.runs.join(tid, run["run_id"])
    assert system.runs.join(tid, run["run_id"]) == first == {**inp("j"), "messages": ["j:0"]}


def test_cancel_with_wait_returns_once_the_run_has_stopped(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    system.runs.cancel(tid, a["run_id"], wait=True, action="interrupt")
    assert system.runs.get(tid, a["run_id"])["status"] == "interrupted"
    # as the reference: its remaining steps are still to run, so the thread is `interrupted`
    assert system.threads.get(tid)["status"] == "interrupted"
    assert system.threads.get(tid)["values"]["messages"] == ["a:0"]


def test_cancel_with_rollback_deletes_the_run(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    system.runs.cancel(tid, a["run_id"], wait=True, action="rollback")
    with pytest.raises(NotFound):
        system.runs.get(tid, a["run_id"])
    assert system.threads.get_state(tid)["values"].get("messages", []) == []


def test_cancel_without_wait_then_the_next_queued_run_starts(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    b = system.runs.create(tid, "one", input=inp("b"))
    system.runs.cancel(tid, a["run_id"])
    assert system.runs.join(tid, b["run_id"])["messages"] == ["a:0", "b:0"]


def test_cancel_of_a_finished_run_is_not_found(system):
    tid = new_thread(system)
    run = system.runs.create(tid, "one", input={"messages": [], **inp("f")})
    system.runs.join(tid, run["run_id"])
    with pytest.raises(NotFound):
        system.runs.cancel(tid, run["run_id"])


def test_deleting_a_thread_stops_its_runs(system):
    tid = new_thread(system)
    a = start_slow_run(system, tid)
    queued = system.runs.create(tid, "one", input=inp("q"))
    system.threads.delete(tid)
    with pytest.raises(NotFound):
        system.threads.get(tid)
    with pytest.raises(NotFound):
        system.runs.join(tid, queued["run_id"])
    assert not saw(a["run_id"], 1, "end")


def test_a_run_on_a_missing_thread_is_not_found_unless_asked_to_create_it(system):
    with pytest.raises(NotFound):
        system.runs.create("00000000-0000-0000-0000-000000000001", "one", input=inp("x"))
    created = system.runs.wait("00000000-0000-0000-0000-000000000002", "one", input={"messages": [], **inp("x")}, if_not_exists="create")
    assert created["messages"] == ["x:0"]


def test_idle_thread_actors_are_passivated_and_come_back_with_their_state():
    with ActorSystem(GRAPHS, settings=Settings(idle_timeout=0.05)) as system:
        threads = [system.threads.create()["thread_id"] for _ in range(40)]
        for tid in threads:
            system.runs.wait(tid, "one", input={"messages": [], **inp("p")})
        wait_until(lambda: system.live_thread_actors() == 0)
        again = system.runs.wait(threads[0], "one", input=inp("q"))
        assert again["messages"] == ["p:0", "q:0"]


async def test_the_async_facade_streams_values_and_updates(system):
    thread = await system.aio.threads.create()
    parts = [
        part
        async for part in system.aio.runs.stream(
            thread["thread_id"], "steps", input={"messages": [], **inp("s")}, stream_mode=["values", "updates"]
        )
    ]
    names = [name for name, _ in parts]
    assert names[0] == "metadata"
    assert names.count("updates") == 3 and names.count("values") == 4
    assert parts[-1] == ("values", {**inp("s"), "messages": ["s:0", "s:1", "s:2"]})


async def test_a_caller_that_gives_up_on_its_create_does_not_strand_the_run():
    """An HTTP client that disconnects while its create is in flight cancels its waiter; the run
    was still accepted and must still run to the end (not stay `pending` with nobody to start it)."""
    import asyncio
    import threading

    with ActorSystem(GRAPHS, settings=Settings(actor_workers=1)) as system:
        tid = new_thread(system)
        gate = threading.Event()
        system.ctx.actor_pool.execute(lambda: gate.wait(10))  # the only worker is held: no reply yet
        create = asyncio.create_task(system.aio.runs.create(tid, "steps", input=inp("gone")))
        await asyncio.sleep(0)  # the CreateRun is sent; its reply is awaited
        create.cancel()
        with pytest.raises(asyncio.CancelledError):
            await create
        gate.set()  # only now does the thread actor see the CreateRun, its caller gone
        runs = []
        await asyncio.to_thread(wait_until, lambda: runs.extend(system.runs.list(tid)) or runs)
        state = await asyncio.wait_for(system.aio.runs.join(tid, runs[0]["run_id"]), 20)
        assert state["messages"] == ["gone:0", "gone:1", "gone:2"]
        assert system.runs.get(tid, runs[0]["run_id"])["status"] == "success"


def test_a_run_past_the_run_timeout_ends_timeout_and_keeps_its_completed_steps():
    with ActorSystem(GRAPHS, settings=Settings(run_timeout=0.5)) as system:
        tid = new_thread(system)
        run = system.runs.create(tid, "steps", input={"messages": [], **inp("slow", slow_at=1, slow_delay=SLOW_STEP)})
        output = system.runs.join(tid, run["run_id"])
        assert output["__error__"]["error"] == "TimeoutError"
        assert system.runs.get(tid, run["run_id"])["status"] == "timeout"
        assert system.threads.get(tid)["status"] == "error"
        assert system.threads.get_state(tid)["values"]["messages"] == ["slow:0"]
        assert saw(run["run_id"], 1, "start") and not saw(run["run_id"], 1, "end")
        # the thread is free for the next run, which finishes well within the timeout
        assert system.runs.wait(tid, "steps", input=inp("next"))["messages"][-1] == "next:2"
        assert system.threads.get(tid)["status"] == "idle"


def test_serve_takes_the_run_timeout_from_the_flag_or_the_reference_servers_variable(monkeypatch):
    from server.cli import build_parser

    assert build_parser().parse_args(["serve", "--run-timeout", "5"]).run_timeout == 5
    monkeypatch.setenv("BG_JOB_TIMEOUT_SECS", "7")
    assert build_parser().parse_args(["serve"]).run_timeout == 7
