"""The scenarios: each drives one server through a `Probe` and records what it wants compared. The same
scenario runs on the reference and on switchboard; tests/differential/test_differential.py compares.

To add one: write `async def name(p: Probe)` under `@scenario`, record with `p.record`/`p.call`/`p.sse`/
`p.sdk_call`, label ids you know (`p.label(id, "thread")`), and scope searches to the scenario
(`metadata={"scenario": p.scenario}`): all scenarios run at the same time on one server.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from .probe import Probe

Scenario = Callable[[Probe], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


def stream_body(graph: str, modes, *, subgraphs: bool = False, **body):
    return {"assistant_id": graph, "stream_mode": modes, "stream_subgraphs": subgraphs, **body}


# --- assistants


@scenario
async def assistants_crud(p: Probe) -> None:
    meta = {"scenario": p.scenario}
    created = await p.sdk_call("create", p.sdk.assistants.create(
        "echo", context={"model": "m1"}, metadata=meta, name="first",
        description="an echo"))
    aid = created["assistant_id"]
    p.label(aid, "assistant")
    await p.sdk_call("get", p.sdk.assistants.get(aid))
    await p.sdk_call("update", p.sdk.assistants.update(aid, name="second", metadata={"extra": True}))
    await p.sdk_call("versions", p.sdk.assistants.get_versions(aid))
    await p.sdk_call("set_latest", p.sdk.assistants.set_latest(aid, 1))
    await p.sdk_call("search", p.sdk.assistants.search(metadata=meta))
    await p.sdk_call("search_name", p.sdk.assistants.search(metadata=meta, name="SEC"))
    await p.sdk_call("count", p.sdk.assistants.count(metadata=meta))
    await p.call("search_raw", "POST", "/assistants/search", json={"metadata": meta, "limit": 1}, record_headers=True)
    await p.sdk_call("create_again_do_nothing", p.sdk.assistants.create("echo", assistant_id=aid, if_exists="do_nothing"))
    await p.sdk_call("create_again_raise", p.sdk.assistants.create("echo", assistant_id=aid, if_exists="raise"))
    await p.call("delete", "DELETE", f"/assistants/{aid}")
    await p.call("get_deleted", "GET", f"/assistants/{aid}")


@scenario
async def assistants_system(p: Probe) -> None:
    for graph in ("plain", "nested", "chat"):
        await p.assistant(graph)
        await p.sdk_call(f"search_{graph}", p.sdk.assistants.search(graph_id=graph))
        await p.sdk_call(f"get_by_graph_{graph}", p.sdk.assistants.get(graph))
    await p.call("info", "GET", "/info")
    await p.call("ok", "GET", "/ok")


@scenario
async def assistants_introspection(p: Probe) -> None:
    # By assistant id: the reference answers 422 to a graph id on these routes (assistants_system).
    ids = {}
    for graph in ("plain", "nested", "nested_hitl", "echo", "chat", "hitl"):
        ids[graph] = await p.assistant(graph)
        await p.sdk_call(f"graph_{graph}", p.sdk.assistants.get_graph(ids[graph]))
        await p.sdk_call(f"schemas_{graph}", p.sdk.assistants.get_schemas(ids[graph]))
    await p.sdk_call("graph_nested_xray", p.sdk.assistants.get_graph(ids["nested"], xray=True))
    await p.sdk_call("subgraphs_nested", p.sdk.assistants.get_subgraphs(ids["nested"]))
    await p.sdk_call("subgraphs_nested_recurse", p.sdk.assistants.get_subgraphs(ids["nested"], recurse=True))
    await p.sdk_call("subgraphs_nested_child", p.sdk.assistants.get_subgraphs(ids["nested"], namespace="child"))
    await p.sdk_call("subgraphs_plain", p.sdk.assistants.get_subgraphs(ids["plain"]))


# --- threads


@scenario
async def threads_crud(p: Probe) -> None:
    meta = {"scenario": p.scenario}
    created = await p.sdk_call("create", p.sdk.threads.create(metadata={**meta, "n": 1}))
    tid = created["thread_id"]
    p.label(tid, "thread")
    await p.sdk_call("get", p.sdk.threads.get(tid))
    await p.sdk_call("update", p.sdk.threads.update(tid, metadata={"n": 2, "more": "yes"}))
    await p.sdk_call("search", p.sdk.threads.search(metadata=meta))
    await p.sdk_call("search_status", p.sdk.threads.search(metadata=meta, status="idle"))
    await p.sdk_call("count", p.sdk.threads.count(metadata=meta))
    await p.call("search_raw", "POST", "/threads/search", json={"metadata": meta, "limit": 1}, record_headers=True)
    await p.sdk_call("create_again_do_nothing", p.sdk.threads.create(thread_id=tid, if_exists="do_nothing"))
    await p.sdk_call("create_again_raise", p.sdk.threads.create(thread_id=tid, if_exists="raise"))
    await p.sdk_call("state_empty", p.sdk.threads.get_state(tid))
    await p.sdk_call("history_empty", p.sdk.threads.get_history(tid))
    await p.call("delete", "DELETE", f"/threads/{tid}")
    await p.call("get_deleted", "GET", f"/threads/{tid}")
    kept = await p.thread("kept")
    pruned = await p.thread("pruned")
    await p.sdk.runs.wait(kept, "plain", input={"tag": "k"})
    await p.sdk_call("prune_keep_latest", p.sdk.threads.prune([kept], strategy="keep_latest"))
    await p.sdk_call("history_after_prune", p.sdk.threads.get_history(kept))
    await p.sdk_call("prune_delete", p.sdk.threads.prune([pruned]))
    await p.call("get_pruned", "GET", f"/threads/{pruned}")


@scenario
async def threads_state(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk_call("wait", p.sdk.runs.wait(tid, "plain", input={"tag": "s"}))
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    state = await p.sdk_call("state", p.sdk.threads.get_state(tid))
    history = await p.sdk_call("history", p.sdk.threads.get_history(tid, limit=3))
    await p.call("history_get", "GET", f"/threads/{tid}/history", params={"limit": 2})
    await p.sdk_call("history_metadata", p.sdk.threads.get_history(tid, metadata={"step": 1}))
    await p.sdk_call("state_at", p.sdk.threads.get_state(tid, checkpoint_id=history[2]["checkpoint"]["checkpoint_id"]))
    await p.call("state_checkpoint", "POST", f"/threads/{tid}/state/checkpoint",
                 json={"checkpoint": {"checkpoint_id": history[2]["checkpoint"]["checkpoint_id"]}})
    await p.sdk_call("update_state", p.sdk.threads.update_state(tid, {"messages": ["edited"]}, as_node="step1"))
    await p.sdk_call("state_after_update", p.sdk.threads.get_state(tid))
    await p.sdk_call("thread_after_update", p.sdk.threads.get(tid))
    await p.sdk_call("update_state_fork", p.sdk.threads.update_state(
        tid, {"tag": "forked"}, checkpoint_id=state["checkpoint"]["checkpoint_id"]))
    await p.sdk_call("copy", p.sdk.threads.copy(tid))
    await p.sdk_call("history_after", p.sdk.threads.get_history(tid, limit=3))
    # last: only switchboard answers it (D20), and the ids it shows first would renumber the rest
    await p.sdk_call("history_before", p.sdk.threads.get_history(tid, limit=2, before=history[1]["checkpoint"]))


@scenario
async def threads_copy(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk.runs.wait(tid, "plain", input={"tag": "c"})
    copied = await p.sdk_call("copy", p.sdk.threads.copy(tid))
    p.label(copied["thread_id"], "copy")
    await p.sdk_call("copy_state", p.sdk.threads.get_state(copied["thread_id"]))
    await p.sdk_call("copy_get", p.sdk.threads.get(copied["thread_id"]))
    await p.sdk_call("run_on_copy", p.sdk.runs.wait(copied["thread_id"], "plain", input={"tag": "d"}))
    await p.sdk_call("original_state", p.sdk.threads.get_state(tid))


# --- runs


@scenario
async def runs_lifecycle(p: Probe) -> None:
    tid = await p.thread()
    run = await p.sdk_call("create", p.sdk.runs.create(tid, "plain", input={"tag": "r"}, metadata={"m": 1}))
    p.label(run["run_id"], "run")
    await p.sdk_call("join", p.sdk.runs.join(tid, run["run_id"]))
    await p.sdk_call("get", p.sdk.runs.get(tid, run["run_id"]))
    await p.sdk_call("list", p.sdk.runs.list(tid))
    await p.sdk_call("list_success", p.sdk.runs.list(tid, status="success"))
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    await p.call("create_raw", "POST", f"/threads/{tid}/runs", json={"assistant_id": "plain", "input": {"tag": "q"}},
                 record_headers=True)
    await p.wait_thread(tid, "idle")
    await p.call("wait_raw", "POST", f"/threads/{tid}/runs/wait", json={"assistant_id": "plain", "input": {"tag": "w"}},
                 record_headers=True)
    await p.call("delete", "DELETE", f"/threads/{tid}/runs/{run['run_id']}")
    await p.call("get_deleted", "GET", f"/threads/{tid}/runs/{run['run_id']}")
    await p.call("join_deleted", "GET", f"/threads/{tid}/runs/{run['run_id']}/join")


@scenario
async def runs_config_context(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk_call("wait_config", p.sdk.runs.wait(tid, "echo", input={}, config={"configurable": {"answer": 42}}))
    await p.sdk_call("wait_context", p.sdk.runs.wait(tid, "echo", input={}, context={"model": "big"}))
    await p.status("wait_both", "POST", f"/threads/{tid}/runs/wait", json={
        "assistant_id": "echo", "input": {}, "config": {"configurable": {"answer": 1}}, "context": {"model": "x"}})
    created = await p.sdk.assistants.create("echo", config={"configurable": {"answer": 7}},
                                            metadata={"scenario": p.scenario})
    p.label(created["assistant_id"], "assistant")
    await p.sdk_call("wait_assistant", p.sdk.runs.wait(tid, created["assistant_id"], input={}))
    await p.status("assistant_both", "POST", "/assistants", json={
        "graph_id": "echo", "config": {"configurable": {"answer": 1}}, "context": {"model": "x"}})
    await p.sdk_call("runs", p.sdk.runs.list(tid))


@scenario
async def runs_error(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk_call("wait", p.sdk.runs.wait(tid, "plain", input={"tag": "e", "fail_at": 1}, raise_error=False))
    await p.call("wait_raw", "POST", f"/threads/{tid}/runs/wait",
                 json={"assistant_id": "plain", "input": {"tag": "e", "fail_at": 0}})
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    runs = await p.sdk_call("runs", p.sdk.runs.list(tid))
    await p.sdk_call("join", p.sdk.runs.join(tid, runs[0]["run_id"]))
    await p.sdk_call("state", p.sdk.threads.get_state(tid))
    await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("plain", ["values", "updates"], input={"tag": "e2", "fail_at": 2}))
    await p.sdk_call("next_run", p.sdk.runs.wait(tid, "plain", input={"tag": "ok", "fail_at": -1}))
    await p.sdk_call("thread_after", p.sdk.threads.get(tid))


@scenario
async def runs_interrupt_before_after(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk_call("before", p.sdk.runs.wait(tid, "plain", input={"tag": "i"}, interrupt_before=["step1"]))
    await p.sdk_call("state_before", p.sdk.threads.get_state(tid))
    await p.sdk_call("thread_before", p.sdk.threads.get(tid))
    await p.sdk_call("continue", p.sdk.runs.wait(tid, "plain", input=None, interrupt_after=["step1"]))
    await p.sdk_call("state_after", p.sdk.threads.get_state(tid))
    await p.sdk_call("finish", p.sdk.runs.wait(tid, "plain", input=None))


@scenario
async def runs_cancel(p: Probe) -> None:
    tid = await p.thread()
    run = await p.sdk.runs.create(tid, "plain", input={"tag": "c", "gate": f"{p.scenario}-never"}, durability="sync")
    p.label(run["run_id"], "run")
    await p.wait_run(tid, run["run_id"], "running")
    # A waited cancel answers with the thread's values; on the reference they depend on timing (`{}`,
    # or the values with or without the first step's write): only the status and the body's type count.
    cancelled = await p.http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel", params={"wait": "true"})
    p.record("cancel", {"status": cancelled.status_code, "body": type(cancelled.json()).__name__})
    await p.sdk_call("run", p.sdk.runs.get(tid, run["run_id"]))
    p.record("thread_status", (await p.sdk.threads.get(tid))["status"])  # its values depend on timing there
    await p.call("cancel_again", "POST", f"/threads/{tid}/runs/{run['run_id']}/cancel", params={"wait": "true"})
    run2 = await p.sdk.runs.create(tid, "plain", input={"tag": "d", "gate": f"{p.scenario}-never"}, durability="sync")
    p.label(run2["run_id"], "run2")
    await p.wait_run(tid, run2["run_id"], "running")
    await p.call("delete_running", "DELETE", f"/threads/{tid}/runs/{run2['run_id']}")
    await p.call("cancel_rollback", "POST", f"/threads/{tid}/runs/{run2['run_id']}/cancel",
                 params={"wait": "true", "action": "rollback"})
    await p.call("run2_after_rollback", "GET", f"/threads/{tid}/runs/{run2['run_id']}")
    await p.sdk_call("runs", p.sdk.runs.list(tid))
    run3 = await p.sdk.runs.create(tid, "plain", input={"tag": "e", "gate": f"{p.scenario}-never"}, durability="sync")
    p.label(run3["run_id"], "run3")
    await p.wait_run(tid, run3["run_id"], "running")
    await p.call("cancel_many", "POST", "/runs/cancel", json={"thread_id": tid, "run_ids": [run3["run_id"]]})
    await p.wait_run(tid, run3["run_id"], "interrupted", "success", "error")
    await p.sdk_call("run3", p.sdk.runs.get(tid, run3["run_id"]))


# --- double texting


async def double_text(p: Probe, strategy: str) -> None:
    tid = await p.thread()
    gate = f"{p.scenario}-gate"
    # durability "sync": the first step's checkpoint is saved before the gated step starts.
    first = await p.sdk.runs.create(tid, "plain", input={"tag": "a", "gate": gate}, durability="sync")
    p.label(first["run_id"], "first")
    await p.wait_run(tid, first["run_id"], "running")
    second = await p.call("second", "POST", f"/threads/{tid}/runs",
                          json={"assistant_id": "plain", "input": {"tag": "b"}, "multitask_strategy": strategy})
    await p.open_gate(gate)
    if isinstance(second, dict) and "run_id" in second:
        p.label(second["run_id"], "second")
        await p.sdk.runs.join(tid, second["run_id"])
        await p.call("second_after", "GET", f"/threads/{tid}/runs/{second['run_id']}")
    await p.wait_thread(tid, "idle", "error", "interrupted")
    if strategy != "rollback":
        await p.wait_run(tid, first["run_id"], "success", "interrupted", "error")
    await p.call("first", "GET", f"/threads/{tid}/runs/{first['run_id']}")
    await p.sdk_call("runs", p.sdk.runs.list(tid))
    # What an interrupted or rolled-back first run leaves in the thread depends on timing on the
    # reference (its steps are kept or not, its input is kept or not): only what each run wrote itself
    # is compared.
    thread = await p.sdk.threads.get(tid)
    p.record("thread_status", thread["status"])
    p.record("messages_of_second", [m for m in (thread["values"] or {}).get("messages", []) if m.startswith("b:")])
    if strategy in ("reject", "enqueue"):
        await p.sdk_call("state", p.sdk.threads.get_state(tid))


for _strategy in ("reject", "interrupt", "rollback", "enqueue"):
    async def _double(p: Probe, strategy: str = _strategy) -> None:
        await double_text(p, strategy)

    _double.__name__ = f"double_texting_{_strategy}"
    scenario(_double)


# --- human in the loop


@scenario
async def hitl_interrupt_resume(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk_call("wait", p.sdk.runs.wait(tid, "hitl", input={"tag": "h"}))
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    await p.sdk_call("state", p.sdk.threads.get_state(tid))
    await p.sdk_call("resume", p.sdk.runs.wait(tid, "hitl", command={"resume": "yes"}))
    await p.sdk_call("state_after", p.sdk.threads.get_state(tid))
    await p.sdk_call("thread_after", p.sdk.threads.get(tid))


@scenario
async def hitl_stream_resume(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("hitl", ["values", "updates", "tasks"], input={"tag": "s"}))
    await p.sse("resume", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("hitl", ["values", "updates"], command={"resume": "ok"}))


@scenario
async def hitl_nested(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("nested_hitl", ["updates"], subgraphs=True, input={"tag": "n"}))
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    await p.sdk_call("state", p.sdk.threads.get_state(tid))
    await p.sdk_call("state_subgraphs", p.sdk.threads.get_state(tid, subgraphs=True))
    await p.sdk_call("resume", p.sdk.runs.wait(tid, "nested_hitl", command={"resume": "fine"}))
    await p.sdk_call("state_after", p.sdk.threads.get_state(tid))


# --- streaming: every mode, with and without subgraphs

STREAM_CASES = {
    "values": ("plain", "values"), "updates": ("plain", "updates"), "debug": ("plain", "debug"),
    "tasks": ("plain", "tasks"), "checkpoints": ("plain", "checkpoints"), "custom": ("custom", "custom"),
    "messages": ("chat", "messages"), "messages_tuple": ("chat", "messages-tuple"), "events": ("custom", "events"),
    "events_chat": ("chat", "events"), "multi": ("chat", ["values", "updates", "messages-tuple", "custom"]),
}
SUBGRAPH_MODES = ("values", "updates", "debug", "tasks", "checkpoints", "custom", "messages-tuple")


def _input_for(graph: str) -> dict:
    if graph in ("chat", "nested_chat"):
        return {"messages": [{"role": "user", "content": "hi"}]}
    return {"tag": "t"}


for _case, (_graph, _mode) in STREAM_CASES.items():
    async def _stream(p: Probe, graph: str = _graph, mode=_mode) -> None:
        tid = await p.thread()
        await p.sse("stream", "POST", f"/threads/{tid}/runs/stream", json=stream_body(graph, mode, input=_input_for(graph)))

    _stream.__name__ = f"stream_{_case}"
    scenario(_stream)


@scenario
async def stream_subgraphs(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("nested", list(SUBGRAPH_MODES), subgraphs=True, input={"tag": "sub"}))


@scenario
async def stream_subgraphs_messages(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("tuple", "POST", f"/threads/{tid}/runs/stream", json=stream_body(
        "nested_chat", ["messages-tuple", "updates"], subgraphs=True, input=_input_for("chat")))
    await p.sse("messages", "POST", f"/threads/{tid}/runs/stream", json=stream_body(
        "nested_chat", "messages", subgraphs=True, input=_input_for("chat")))


@scenario
async def stream_subgraphs_off(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("nested", ["values", "updates", "debug"], input={"tag": "sub"}))


@scenario
async def stream_sdk(p: Probe) -> None:
    """The same kind of stream, read by the SDK (what an application sees)."""
    tid = await p.thread()
    await p.sdk_stream("values_updates", p.sdk.runs.stream(tid, "plain", input={"tag": "k"}, stream_mode=["values", "updates"]))
    await p.sdk_stream("messages", p.sdk.runs.stream(tid, "chat", input=_input_for("chat"), stream_mode="messages"))
    await p.sdk_stream("error", p.sdk.runs.stream(tid, "plain", input={"tag": "k", "fail_at": 0}))


@scenario
async def stream_join(p: Probe) -> None:
    """Joining a running, not resumable run's stream: it gets what is published from then on, nothing
    before (neither server replays the current values on join). The join is made once step 0's
    `values` event is surely published: after the run's own stream (created with it, so it gets every
    event) has delivered it. Waiting for the thread's state to show step 0 instead raced: the reference
    sometimes publishes that event after its checkpoint is visible, so the join got it there."""
    tid = await p.thread()
    gate = f"{p.scenario}-gate"
    parts = p.sdk.runs.stream(tid, "plain", input={"tag": "j", "gate": gate}, stream_mode=["values", "updates"])
    run_id = None
    async for part in parts:  # until step 0's values; step 1 waits at the gate
        if part.event == "metadata":
            run_id = part.data["run_id"]
            p.label(run_id, "run")
        if part.event == "values" and "j:0" in part.data.get("messages", []):
            break
    else:
        raise AssertionError(f"{p.server}: the run's stream ended before step 0's values")
    await p.sse("join", "GET", f"/threads/{tid}/runs/{run_id}/stream", on_open=lambda: p.open_gate(gate))
    async for _ in parts:  # the rest of the run's own stream (not compared: stream_sdk covers it)
        pass
    await p.sse("join_finished", "GET", f"/threads/{tid}/runs/{run_id}/stream")


@scenario
async def stream_resumable(p: Probe) -> None:
    tid = await p.thread()
    events = await p.sse("stream", "POST", f"/threads/{tid}/runs/stream",
                         json=stream_body("plain", ["values", "updates"], input={"tag": "r"}, stream_resumable=True))
    run_id = events[0]["data"]["run_id"]
    p.label(run_id, "run")
    ids = [e.get("id") for e in events]
    p.record("ids_sent", [i is not None for i in ids])
    if len(ids) > 2 and ids[2] is not None:
        await p.sse("resume_from_2", "GET", f"/threads/{tid}/runs/{run_id}/stream", headers={"Last-Event-ID": ids[2]})
    await p.sse("resume_from_start", "GET", f"/threads/{tid}/runs/{run_id}/stream", headers={"Last-Event-ID": "-1"})
    await p.sdk_stream("sdk_join", p.sdk.runs.join_stream(tid, run_id, last_event_id=ids[1] if ids[1] else None))


@scenario
async def stream_thread(p: Probe) -> None:
    """`GET /threads/{id}/stream`: what happens on the thread from the moment one joins."""
    tid = await p.thread()

    async def start_run() -> None:
        run = await p.sdk.runs.create(tid, "plain", input={"tag": "ts"}, stream_mode=["values", "updates"])
        p.label(run["run_id"], "run")

    def last_values(event: dict) -> bool:
        return event.get("event") == "values" and "ts:2" in (event.get("data") or {}).get("messages", [])

    await p.sse("thread_stream", "GET", f"/threads/{tid}/stream", on_open=start_run, until=last_values)
    # (`stream_mode=state_update` is not compared: the reference's in-memory runtime sends nothing on
    # update_state, and waiting for an absence would take a guessed time.)


@scenario
async def stream_stateless(p: Probe) -> None:
    await p.sse("stream", "POST", "/runs/stream", json=stream_body("plain", ["values"], input={"tag": "sl"}))


# --- stateless runs and batches


@scenario
async def runs_stateless(p: Probe) -> None:
    await p.sdk_call("wait", p.sdk.runs.wait(None, "plain", input={"tag": "w"}))
    await p.call("wait_raw", "POST", "/runs/wait", json={"assistant_id": "plain", "input": {"tag": "x"}}, record_headers=True)
    run = await p.sdk_call("create", p.sdk.runs.create(None, "plain", input={"tag": "c"}, on_completion="keep"))
    p.label(run["run_id"], "run")
    p.label(run["thread_id"], "thread")
    await p.sdk_call("join", p.sdk.runs.join(run["thread_id"], run["run_id"]))
    await p.sdk_call("kept_thread", p.sdk.threads.get(run["thread_id"]))


@scenario
async def runs_batch(p: Probe) -> None:
    tid = await p.thread()
    runs = await p.sdk_call("batch", p.sdk.runs.create_batch([
        # `keep`: the reference runs every item stateless (D19), and a stateless run that is deleted
        # when it ends could be gone before the join below
        {"assistant_id": "plain", "input": {"tag": "b1"}, "thread_id": tid, "on_completion": "keep"},
        {"assistant_id": "plain", "input": {"tag": "b2"}, "on_completion": "keep"},
    ]))
    for i, run in enumerate(runs or []):
        p.label(run["run_id"], f"batch{i}")
    await p.sdk_call("join", p.sdk.runs.join(runs[0]["thread_id"], runs[0]["run_id"]))
    await p.status("batch_bad_item", "POST", "/runs/batch", json=[{"assistant_id": "plain"}, {"input": {}}])


# --- store


@scenario
async def store_items(p: Probe) -> None:
    ns = ["diff-store", p.scenario]
    await p.sdk_call("put", p.sdk.store.put_item(ns, "a", {"color": "red", "n": 1}))
    await p.sdk_call("put_b", p.sdk.store.put_item([*ns, "sub"], "b", {"color": "blue", "n": 2}))
    await p.sdk_call("get", p.sdk.store.get_item(ns, "a"))
    await p.sdk_call("search", p.sdk.store.search_items(["diff-store"]))
    await p.sdk_call("search_filter", p.sdk.store.search_items(["diff-store"], filter={"color": "blue"}))
    await p.sdk_call("namespaces", p.sdk.store.list_namespaces(prefix=["diff-store"]))
    await p.sdk_call("namespaces_depth", p.sdk.store.list_namespaces(prefix=["diff-store"], max_depth=2))
    await p.sdk_call("delete", p.sdk.store.delete_item(ns, "a"))
    await p.call("get_deleted", "GET", "/store/items", params={"namespace": ".".join(ns), "key": "a"})
    await p.status("put_no_namespace", "PUT", "/store/items", json={"key": "k", "value": {}})


# --- crons


@scenario
async def crons(p: Probe) -> None:
    tid = await p.thread()
    cron = await p.sdk_call("create_for_thread", p.sdk.crons.create_for_thread(
        tid, "plain", schedule="0 0 1 1 *", input={"tag": "cron"}))
    if cron:
        p.label(cron["cron_id"], "cron")
    stateless = await p.sdk_call("create", p.sdk.crons.create("plain", schedule="0 0 1 1 *", input={"tag": "c2"}))
    if stateless:
        p.label(stateless["cron_id"], "cron2")
    await p.sdk_call("search", p.sdk.crons.search(thread_id=tid))
    await p.sdk_call("count", p.sdk.crons.count(thread_id=tid))
    if cron:
        await p.sdk_call("update", p.sdk.crons.update(cron["cron_id"], schedule="0 0 2 1 *", enabled=False))
        await p.call("get", "GET", f"/runs/crons/{cron['cron_id']}")
    if cron:
        await p.call("delete", "DELETE", f"/runs/crons/{cron['cron_id']}")
    if stateless:
        await p.call("delete2", "DELETE", f"/runs/crons/{stateless['cron_id']}")
    await p.sdk_call("search_after", p.sdk.crons.search(thread_id=tid))
    await p.status("bad_schedule", "POST", f"/threads/{tid}/runs/crons", json={"assistant_id": "plain", "schedule": "nope"})


# --- bad input: status codes (the messages may differ)


@scenario
async def bad_input(p: Probe) -> None:
    tid = await p.thread()
    unknown = "00000000-0000-4000-8000-000000000000"
    cases = {
        "not_json": ("POST", "/threads", {"content": b"{nope", "headers": {"content-type": "application/json"}}),
        "thread_not_uuid": ("GET", "/threads/not-a-uuid", {}),
        "thread_unknown": ("GET", f"/threads/{unknown}", {}),
        "assistant_unknown": ("GET", f"/assistants/{unknown}", {}),
        "assistant_bad_graph": ("POST", "/assistants", {"json": {"graph_id": "nope"}}),
        "run_unknown_assistant": ("POST", f"/threads/{tid}/runs", {"json": {"assistant_id": "nope"}}),
        "run_unknown_thread": ("POST", f"/threads/{unknown}/runs", {"json": {"assistant_id": "plain"}}),
        "run_bad_strategy": ("POST", f"/threads/{tid}/runs", {"json": {"assistant_id": "plain", "multitask_strategy": "x"}}),
        "run_bad_stream_mode": ("POST", f"/threads/{tid}/runs/stream", {"json": {"assistant_id": "plain", "stream_mode": "x"}}),
        "run_no_assistant": ("POST", f"/threads/{tid}/runs", {"json": {"input": {}}}),
        "run_get_unknown": ("GET", f"/threads/{tid}/runs/{unknown}", {}),
        "search_bad_limit": ("POST", "/threads/search", {"json": {"limit": "many"}}),
        "state_unknown_checkpoint": ("GET", f"/threads/{tid}/state/{unknown}", {}),
        "store_get_missing": ("GET", "/store/items", {"params": {"namespace": "a", "key": "missing"}}),
        "cron_unknown": ("DELETE", f"/runs/crons/{unknown}", {}),
    }
    for name, (method, path, kwargs) in cases.items():
        await p.status(name, method, path, **kwargs)


# --- more run options


@scenario
async def runs_fork_replay(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk.runs.wait(tid, "plain", input={"tag": "f"})
    history = await p.sdk.threads.get_history(tid)
    after_step0 = next(h for h in history if h["values"].get("messages") == ["f:0"])
    checkpoint_id = after_step0["checkpoint"]["checkpoint_id"]
    p.label(checkpoint_id, "forked_from")  # named: the reference also shows it first in metadata (D15)
    await p.sdk_call("replay", p.sdk.runs.wait(tid, "plain", input=None, checkpoint_id=checkpoint_id))
    await p.sdk_call("fork", p.sdk.runs.wait(tid, "plain", input={"tag": "g"}, checkpoint_id=checkpoint_id))
    await p.sdk_call("fork_by_checkpoint", p.sdk.runs.wait(
        tid, "plain", input={"tag": "h"}, checkpoint={"checkpoint_id": checkpoint_id, "checkpoint_ns": ""}))
    await p.sdk_call("state", p.sdk.threads.get_state(tid))
    await p.sdk_call("history_len", _count(p.sdk.threads.get_history(tid, limit=100)))


async def _count(awaitable) -> int:
    return len(await awaitable)


@scenario
async def runs_command(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk.runs.wait(tid, "plain", input={"tag": "c"}, interrupt_before=["step1"])
    await p.sdk_call("goto", p.sdk.runs.wait(tid, "plain", command={"goto": "step2", "update": {"tag": "jumped"}}))
    await p.sdk_call("state", p.sdk.threads.get_state(tid))
    await p.status("input_and_command", "POST", f"/threads/{tid}/runs/wait",
                   json={"assistant_id": "plain", "input": {"tag": "x"}, "command": {"resume": 1}})


@scenario
async def runs_if_not_exists(p: Probe) -> None:
    tid = str(uuid.uuid4())
    p.label(tid, "new_thread")
    await p.sdk_call("create", p.sdk.runs.wait(tid, "plain", input={"tag": "n"}, if_not_exists="create"))
    await p.sdk_call("thread", p.sdk.threads.get(tid))
    await p.sdk.threads.delete(tid)
    await p.status("reject", "POST", f"/threads/{tid}/runs/wait", json={"assistant_id": "plain", "if_not_exists": "reject"})


@scenario
async def runs_pagination(p: Probe) -> None:
    tid = await p.thread()
    for i in range(3):
        run = await p.sdk.runs.create(tid, "plain", input={"tag": f"p{i}"})
        p.label(run["run_id"], f"run{i}")
        await p.sdk.runs.join(tid, run["run_id"])
    await p.sdk_call("list", p.sdk.runs.list(tid, limit=2))
    await p.sdk_call("list_offset", p.sdk.runs.list(tid, limit=2, offset=2))
    await p.call("list_raw", "GET", f"/threads/{tid}/runs", params={"limit": 1}, record_headers=True)


@scenario
async def runs_interrupt_stream(p: Probe) -> None:
    tid = await p.thread()
    await p.sse("before", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("plain", ["values", "updates", "debug"], input={"tag": "ib"}, interrupt_before=["step2"]))
    await p.sse("continue", "POST", f"/threads/{tid}/runs/stream", json=stream_body("plain", ["updates"], input=None))


@scenario
async def runs_on_disconnect(p: Probe) -> None:
    tid = await p.thread()
    events = await p.sse("stream", "POST", f"/threads/{tid}/runs/stream", stop_after=1, json=stream_body(
        "plain", ["values"], input={"tag": "d", "gate": f"{p.scenario}-never"}, on_disconnect="cancel"))
    run_id = events[0]["data"]["run_id"]
    p.label(run_id, "run")
    p.record("run_status", await p.wait_run(tid, run_id, "interrupted", "success", "error"))


@scenario
async def runs_stream_double_text(p: Probe) -> None:
    tid = await p.thread()
    gate = f"{p.scenario}-gate"
    first = await p.sdk.runs.create(tid, "plain", input={"tag": "a", "gate": gate}, durability="sync")
    p.label(first["run_id"], "first")
    await p.wait_run(tid, first["run_id"], "running")
    await p.sse("reject", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("plain", ["updates"], input={"tag": "b"}, multitask_strategy="reject"))
    await p.status("wait_reject", "POST", f"/threads/{tid}/runs/wait",
                   json={"assistant_id": "plain", "input": {"tag": "b"}, "multitask_strategy": "reject"})
    queued = await p.sdk.runs.create(tid, "plain", input={"tag": "q"}, multitask_strategy="enqueue")
    p.label(queued["run_id"], "queued")
    await p.call("cancel_pending", "POST", f"/threads/{tid}/runs/{queued['run_id']}/cancel")
    await p.wait_run(tid, queued["run_id"], "interrupted", "success", "error")
    await p.call("pending_cancelled", "GET", f"/threads/{tid}/runs/{queued['run_id']}")
    await p.open_gate(gate)
    await p.sdk.runs.join(tid, first["run_id"])
    await p.call("first", "GET", f"/threads/{tid}/runs/{first['run_id']}")


@scenario
async def stream_join_error(p: Probe) -> None:
    tid = await p.thread()
    run = await p.sdk.runs.create(tid, "plain", input={"tag": "x", "fail_at": 2}, stream_resumable=True,
                                  stream_mode=["updates"])
    p.label(run["run_id"], "run")
    # Joined at once, so usually mid-run and sometimes right as it fails (a race on switchboard once,
    # found by this test; now each join gets every event once, in order: tests/test_stream_join_race.py).
    await p.sse("join", "GET", f"/threads/{tid}/runs/{run['run_id']}/stream", headers={"Last-Event-ID": "-1"})
    await p.wait_run(tid, run["run_id"], "error")  # and once it has failed: the replay of a finished run
    await p.sse("rejoin", "GET", f"/threads/{tid}/runs/{run['run_id']}/stream", headers={"Last-Event-ID": "-1"})
    await p.sdk_call("run", p.sdk.runs.get(tid, run["run_id"]))
    await p.sdk_call("join_result", p.sdk.runs.join(tid, run["run_id"]))


@scenario
async def hitl_nested_stream_resume(p: Probe) -> None:
    tid = await p.thread()
    await p.sdk.runs.wait(tid, "nested_hitl", input={"tag": "r"})
    await p.sse("resume", "POST", f"/threads/{tid}/runs/stream",
                json=stream_body("nested_hitl", ["values", "updates"], subgraphs=True, command={"resume": "sure"}))


# --- search options


@scenario
async def search_options(p: Probe) -> None:
    meta = {"scenario": p.scenario}
    for i, name in enumerate(("b-second", "a-first", "c-third")):
        created = await p.sdk.assistants.create("plain", name=name, metadata={**meta, "i": i})
        p.label(created["assistant_id"], f"assistant_{name}")
    await p.sdk_call("by_name", p.sdk.assistants.search(metadata=meta, sort_by="name", sort_order="asc"))
    await p.sdk_call("by_created_desc", p.sdk.assistants.search(metadata=meta, sort_by="created_at", sort_order="desc", limit=2))
    await p.sdk_call("offset", p.sdk.assistants.search(metadata=meta, sort_by="name", offset=1, limit=1))
    await p.sdk_call("select", p.sdk.assistants.search(metadata=meta, sort_by="name", select=["assistant_id", "name"]))
    await p.sdk_call("graph_and_meta", p.sdk.assistants.search(graph_id="plain", metadata={**meta, "i": 1}))
    await p.sdk_call("count_graph", p.sdk.assistants.count(graph_id="plain", metadata=meta))
    threads = []
    for i in range(3):
        threads.append(await p.thread(f"thread{i}", i=i))
    await p.sdk.runs.wait(threads[1], "plain", input={"tag": "v"})
    await p.sdk_call("threads_idle_by_values", p.sdk.threads.search(metadata=meta, values={"tag": "v"}))
    await p.sdk_call("threads_sorted", p.sdk.threads.search(metadata=meta, sort_by="created_at", sort_order="asc"))
    await p.sdk_call("threads_status", p.sdk.threads.search(metadata=meta, status="idle", limit=1, offset=1,
                                                             sort_by="created_at", sort_order="asc"))
    await p.sdk_call("threads_select", p.sdk.threads.search(metadata=meta, select=["thread_id", "status"],
                                                             sort_by="created_at", sort_order="asc"))
    await p.sdk_call("threads_count_status", p.sdk.threads.count(metadata=meta, status="idle"))
    await p.sdk_call("threads_ids", p.sdk.threads.search(ids=[threads[0], threads[2]], sort_by="created_at", sort_order="asc"))


@scenario
async def store_options(p: Probe) -> None:
    ns = ["diff-store-options", "x"]
    for key in ("k1", "k2", "k3"):
        await p.sdk.store.put_item(ns, key, {"key": key, "even": key in ("k2",)}, index=False)
    await p.sdk.store.put_item(["diff-store-options", "y", "z"], "deep", {"d": 1})
    await p.sdk_call("search_limit", p.sdk.store.search_items(["diff-store-options"], limit=2, offset=1))
    await p.sdk_call("search_filter_bool", p.sdk.store.search_items(["diff-store-options"], filter={"even": True}))
    await p.sdk_call("namespaces_suffix", p.sdk.store.list_namespaces(prefix=["diff-store-options"], suffix=["z"]))
    await p.sdk_call("namespaces_depth1", p.sdk.store.list_namespaces(prefix=["diff-store-options"], max_depth=1))
    await p.sdk_call("put_again", p.sdk.store.put_item(ns, "k1", {"key": "k1", "v": 2}))
    await p.sdk_call("get_updated", p.sdk.store.get_item(ns, "k1"))
    await p.status("bad_namespace_label", "PUT", "/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}})
    await p.status("value_not_object", "PUT", "/store/items", json={"namespace": ["a"], "key": "k", "value": 3})
