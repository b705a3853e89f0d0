"""The double-texting scenario end to end: the real langgraph-sdk client against a real uvicorn."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import wait_until
from tests.graphs.steps import events, saw
from tests.helpers import SLOW_STEP, inp


async def slow_run(client, thread_id, tag="a", slow_at=1):
    run = await client.runs.create(
        thread_id, "steps", input={"messages": [], **inp(tag, slow_at=slow_at, slow_delay=SLOW_STEP)}
    )
    await asyncio.to_thread(wait_until, lambda: saw(run["run_id"], slow_at, "start"))
    return run


async def test_interrupt_over_http_keeps_the_first_runs_completed_steps(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await slow_run(client, tid)
    second = await client.runs.create(tid, "steps", input=inp("i"), multitask_strategy="interrupt")
    assert second["status"] == "pending"
    state = await client.runs.join(tid, second["run_id"])
    assert state["messages"] == ["a:0", "i:0", "i:1", "i:2"]
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, second["run_id"]))["status"] == "success"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_a_superseded_run_leaves_its_reason_as_the_threads_error(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await slow_run(client, tid)
    second = await client.runs.create(
        tid, "steps", input=inp("i", slow_at=1, slow_delay=SLOW_STEP), multitask_strategy="interrupt"
    )
    await asyncio.to_thread(wait_until, lambda: saw(second["run_id"], 1, "start"))
    assert (await client.threads.get(tid))["error"] == {
        "error": "UserInterrupt", "message": f"superseded by run {second['run_id']} (multitask_strategy=interrupt)",
    }
    await client.runs.cancel(tid, second["run_id"], wait=True)
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"


async def test_rollback_over_http_deletes_the_first_run(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await slow_run(client, tid)
    second = await client.runs.create(tid, "steps", input=inp("r"), multitask_strategy="rollback")
    state = await client.runs.join(tid, second["run_id"])
    assert state["messages"] == ["r:0", "r:1", "r:2"]
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.get(tid, first["run_id"])
    assert err.value.response.status_code == 404
    state = await client.threads.get_state(tid)
    assert state["values"]["messages"] == ["r:0", "r:1", "r:2"]


async def test_reject_over_http_is_a_409_and_the_first_run_continues(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "steps", input={"messages": [], **inp("a", slow_at=0, slow_delay=0.3)})
    await asyncio.to_thread(wait_until, lambda: saw(first["run_id"], 0, "start"))
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "steps", input=inp("x"), multitask_strategy="reject")
    assert err.value.response.status_code == 409
    assert "already running" in err.value.response.json()["detail"]
    assert (await client.runs.join(tid, first["run_id"]))["messages"] == ["a:0", "a:1", "a:2"]
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "success"


async def test_enqueue_over_http_runs_in_order(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    runs = [await client.runs.create(tid, "one", input={"messages": [], **inp(f"e{i}", delay=0.01)}) for i in range(5)]
    state = await client.runs.join(tid, runs[-1]["run_id"])
    assert state["messages"] == [f"e{i}:0" for i in range(5)]
    statuses = [(await client.runs.get(tid, r["run_id"]))["status"] for r in runs]
    assert statuses == ["success"] * 5


async def test_runs_wait_returns_the_final_state_and_errors_as_the_reference(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    assert (await client.runs.wait(tid, "one", input={"messages": [], **inp("w")}))["messages"] == ["w:0"]
    failed = await client.runs.wait(tid, "steps", input=inp("f", fail_at=0), raise_error=False)
    assert failed == {"__error__": {"error": "ValueError", "message": "step 0 failed on purpose"}}
    assert (await client.threads.get(tid))["status"] == "error"


async def test_cancel_over_http_interrupts_or_rolls_back(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await slow_run(client, tid)
    await client.runs.cancel(tid, first["run_id"], wait=True)
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "interrupted"
    # as the reference: the thread's error says why its last run stopped (the route unfilled, as there)
    assert (await client.threads.get(tid))["error"] == {
        "error": "UserInterrupt", "message": "interrupt requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
    }
    second = await slow_run(client, tid, tag="b")
    await client.runs.cancel(tid, second["run_id"], wait=True, action="rollback")
    assert (await client.threads.get(tid))["error"] == {
        "error": "UserRollback", "message": "rollback requested via POST /threads/{thread_id}/runs/{run_id}/cancel",
    }
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.get(tid, second["run_id"])
    assert err.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.cancel(tid, first["run_id"], wait=True)
    assert err.value.response.status_code == 404


async def test_stream_sends_metadata_values_updates_and_ends_after_the_last(client):
    thread = await client.threads.create()
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], "steps", input={"messages": [], **inp("s")}, stream_mode=["values", "updates"]
        )
    ]
    names = [p.event for p in parts]
    assert names[0] == "metadata" and "run_id" in parts[0].data
    assert names[1:] == ["values", "updates", "values", "updates", "values", "updates", "values"]
    assert [p.data for p in parts if p.event == "updates"] == [{f"step{i}": {"messages": [f"s:{i}"]}} for i in range(3)]
    assert [p for p in parts if p.event == "values"][-1].data["messages"] == ["s:0", "s:1", "s:2"]


async def test_stream_of_a_failing_run_ends_with_an_error_event(client):
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], "steps", input=inp("x", fail_at=1))]
    errors = [p for p in parts if p.event == "error"]
    assert errors and errors[0].data == {"error": "ValueError", "message": "step 1 failed on purpose"}


async def test_join_stream_follows_a_running_run_to_its_end(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(
        tid, "steps", input={"messages": [], **inp("j", slow_at=0, slow_delay=0.2)}, stream_mode=["updates"]
    )
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates[-1] == {"step2": {"messages": ["j:2"]}}
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"


async def test_join_stream_of_a_finished_run_ends_at_once(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "one", input={"messages": [], **inp("d")})
    await client.runs.join(tid, run["run_id"])
    parts = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert parts == []


async def test_if_not_exists_create_makes_the_thread(client):
    tid = "6d7c2f1e-3b0a-4c5d-9e8f-112233445566"
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "one", input=inp("n"))
    assert err.value.response.status_code == 404
    run = await client.runs.create(tid, "one", input={"messages": [], **inp("n")}, if_not_exists="create")
    assert (await client.runs.join(tid, run["run_id"]))["messages"] == ["n:0"]
    assert (await client.threads.get(tid))["thread_id"] == tid


async def test_thread_state_and_run_listing(client):
    thread = await client.threads.create(metadata={"owner": "me"})
    tid = thread["thread_id"]
    r1 = await client.runs.create(tid, "one", input={"messages": [], **inp("l1")})
    r2 = await client.runs.create(tid, "one", input=inp("l2"))
    await client.runs.join(tid, r2["run_id"])
    listed = await client.runs.list(tid)
    assert [r["run_id"] for r in listed] == [r2["run_id"], r1["run_id"]]
    state = await client.threads.get_state(tid)
    assert state["values"]["messages"] == ["l1:0", "l2:0"] and state["next"] == []
    fetched = await client.threads.get(tid)
    assert fetched["metadata"]["owner"] == "me" and fetched["metadata"]["graph_id"] == "one"
    assert fetched["values"]["messages"] == ["l1:0", "l2:0"]
    found = await client.threads.search(metadata={"owner": "me"})
    assert tid in [t["thread_id"] for t in found]
    await client.threads.delete(tid)
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.get(tid)
    assert err.value.response.status_code == 404


async def test_assistant_by_graph_name_and_uuid(client):
    assistants = await client.assistants.search()
    by_graph = {a["graph_id"]: a for a in assistants}
    assert {"steps", "one", "hitl"} <= set(by_graph)
    fetched = await client.assistants.get("one")
    assert fetched["assistant_id"] == by_graph["one"]["assistant_id"]
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], by_graph["one"]["assistant_id"], input={"messages": [], **inp("u")})
    assert run["assistant_id"] == by_graph["one"]["assistant_id"]
    assert run["metadata"]["graph_id"] == "one"


async def test_human_in_the_loop_over_http(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "hitl", input={"messages": []})
    assert paused["__interrupt__"][0]["value"] == {"question": "approve?"}
    t = await client.threads.get(tid)
    assert t["status"] == "interrupted" and t["interrupts"]
    resumed = await client.runs.wait(tid, "hitl", command={"resume": "ok"})
    assert resumed["messages"] == ["answer:ok"]


async def test_no_step_of_the_interrupted_run_runs_after_its_successor_started(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await slow_run(client, tid)
    second = await client.runs.create(tid, "steps", input=inp("n"), multitask_strategy="interrupt")
    await client.runs.join(tid, second["run_id"])
    first_last = max(t for _, _, t in events(first["run_id"]))
    second_first = min(t for _, _, t in events(second["run_id"]))
    assert first_last <= second_first
    assert any(what == "cancelled" for _, what, _ in events(first["run_id"]))


async def test_custom_stream_mode_carries_what_nodes_write(client):
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], "custom", input={"messages": []}, stream_mode="custom")]
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": 0}, {"progress": 1}, {"progress": 2}]


async def test_thread_is_busy_while_a_run_is_active_and_can_be_patched(client):
    thread = await client.threads.create(metadata={"a": 1})
    tid = thread["thread_id"]
    run = await slow_run(client, tid)
    assert (await client.threads.get(tid))["status"] == "busy"
    patched = await client.threads.update(tid, metadata={"b": 2})
    assert patched["metadata"]["a"] == 1 and patched["metadata"]["b"] == 2
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert (await client.threads.get(tid))["status"] == "interrupted"  # steps left to run, as the reference


async def test_server_health_and_info(live_server):
    import httpx as _httpx

    async with _httpx.AsyncClient(base_url=live_server.url) as http:
        assert (await http.get("/ok")).json()["ok"] is True
        info = (await http.get("/info")).json()
        assert "version" in info
