"""Start-up recovery: bring what storage says back in line with a process that has no runs in flight.

After a crash (`kill -9`, OOM, power cut) storage may hold runs marked `running` that nothing runs,
threads marked `busy`, and `pending` runs whose thread actor is gone. Before the system serves,
`recover()`:

- ends every `running` run. The strategy that was stopping it, if any, is applied as the thread actor
  would have: a pending run with `rollback` strategy behind it (a delayed one once it is due) -> the
  run is deleted with its checkpoints; with `interrupt` -> `interrupted`. Otherwise the run becomes `error` with the
  `ServerRestarted` error below. It is not resumed: the step that was in flight may have had side
  effects (a tool call, a payment) that a blind re-execution would repeat, and the client that waited
  for it has gone. Every step that completed is in the thread's checkpoints, so a new run with
  `input: null` continues from there when the user decides to.
- sets the thread's values from its last checkpoint and its status to `error`/`idle` (never `busy`);
- wakes the thread actor of every thread with `pending` runs: it queues them in the order it had
  accepted them (storage's insertion order) and runs them; delayed runs are re-timed.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from . import messages as m
from ..kernel import serde
from ..context import SystemContext
from ..models import Run, now
from .options import run_delay

log = logging.getLogger("switchboard.recovery")

RESTART_ERROR = {
    "error": "ServerRestarted",
    "message": "The server stopped while this run was running. Steps that completed are kept in the "
    "thread's state; start a new run (input null) to continue from them.",
}


class RecoveryReport(msgspec.Struct, kw_only=True):
    errored: list[str] = msgspec.field(default_factory=list)
    interrupted: list[str] = msgspec.field(default_factory=list)
    rolled_back: list[str] = msgspec.field(default_factory=list)
    resumed_threads: list[str] = msgspec.field(default_factory=list)


def _pending_stop(pending: list[Run]) -> str | None:
    """The stop an accepted interrupt/rollback run had asked of the active run (rollback wins). A
    delayed run counts once it is due: it had stopped the run, or would have on waking now."""
    at = now()
    strategies = {r.multitask_strategy for r in pending if _due(r, at)}
    if "rollback" in strategies:
        return "rollback"
    if "interrupt" in strategies:
        return "interrupt"
    return None


def _due(run: Run, at: Any) -> bool:
    delay = run_delay(run)
    return not delay or (at - run.created_at).total_seconds() >= delay


def _state_values(ctx: SystemContext, thread_id: str) -> tuple[bool, Any]:
    thread = ctx.storage.get_thread(thread_id)
    graph_id = thread.metadata.get("graph_id") if thread else None
    if not isinstance(graph_id, str) or graph_id not in ctx.graphs.ids:
        return False, None
    config = {"configurable": {"thread_id": thread_id}}

    async def read() -> Any:
        async with ctx.graphs.open(graph_id, config) as graph:
            return await graph.aget_state(config)

    try:
        return True, serde.to_jsonable(ctx.runtime.call(read()).values)
    except Exception:  # a checkpoint the graph cannot read: keep the stored values, go on recovering
        log.exception("recovery: thread %s: reading its last checkpoint failed; values left as stored", thread_id)
        return False, None


def recover(ctx: SystemContext) -> RecoveryReport:
    storage = ctx.storage
    report = RecoveryReport()
    thread_status: dict[str, str] = {}
    for run in storage.runs_with_status("running"):
        _end_or_error(ctx, run, report, thread_status)
    for thread in storage.list_threads(status="busy"):
        thread_status.setdefault(thread.thread_id, "idle")
    _set_statuses(ctx, thread_status)
    _wake_pending(ctx, report)
    if report.errored or report.interrupted or report.rolled_back or report.resumed_threads:
        log.warning(
            "recovered after an unclean stop: %d run(s) errored, %d interrupted, %d rolled back; "
            "%d thread(s) with pending runs resumed",
            len(report.errored), len(report.interrupted), len(report.rolled_back), len(report.resumed_threads),
        )
    return report


def recover_thread(ctx: SystemContext, thread_id: str, *, wake: bool = True) -> RecoveryReport:
    """The same for one thread whose process died (cluster mode: the taker runs it, having acquired
    the thread; other processes' runs are theirs). Wakes the thread's actor if it has pending runs
    (`wake=False`: the caller is starting it)."""
    storage = ctx.storage
    report = RecoveryReport()
    thread_status: dict[str, str] = {}
    for run in storage.list_runs(thread_id, status="running"):
        _end_or_error(ctx, run, report, thread_status)
    thread = storage.get_thread(thread_id)
    if thread is not None and thread.status == "busy":
        thread_status.setdefault(thread_id, "idle")
    _set_statuses(ctx, thread_status)
    _wake_pending(ctx, report, storage.list_runs(thread_id, status="pending")[::-1], wake=wake)
    return report


def _end_or_error(ctx: SystemContext, run: Run, report: RecoveryReport, thread_status: dict[str, str]) -> None:
    storage = ctx.storage
    try:
        _end_running(ctx, run, report, thread_status)
    except Exception:  # one record recovery cannot handle must not keep the server from starting
        log.exception("recovery: run %s could not be ended as usual; marking it error", run.run_id)
        storage.update_run(run.run_id, status="error")
        storage.set_run_output(run.run_id, {"__error__": RESTART_ERROR})
        report.errored.append(run.run_id)
        thread_status[run.thread_id] = "error"


def _set_statuses(ctx: SystemContext, thread_status: dict[str, str]) -> None:
    for thread_id, status in thread_status.items():
        known, values = _state_values(ctx, thread_id)
        changes: dict[str, Any] = {"status": status}
        if known:
            changes.update(values=values, state_updated_at=now())
        ctx.storage.update_thread(thread_id, **changes)


def _end_running(ctx: SystemContext, run: Run, report: RecoveryReport, thread_status: dict[str, str]) -> None:
    """End one run left `running`: as the strategy stopping it would have, else `error`."""
    storage = ctx.storage
    stop = _pending_stop(storage.list_runs(run.thread_id, status="pending"))
    if stop == "rollback":
        ctx.runtime.call(storage.delete_checkpoints_for_runs(run.thread_id, [run.run_id]))
        storage.delete_run(run.run_id)
        report.rolled_back.append(run.run_id)
        thread_status.setdefault(run.thread_id, "idle")
        return
    _known, values = _state_values(ctx, run.thread_id)
    if stop == "interrupt":
        storage.update_run(run.run_id, status="interrupted")
        storage.set_run_output(run.run_id, values)
        report.interrupted.append(run.run_id)
        thread_status.setdefault(run.thread_id, "idle")
    else:
        storage.update_run(run.run_id, status="error")
        storage.set_run_output(run.run_id, {"__error__": RESTART_ERROR})
        report.errored.append(run.run_id)
        thread_status[run.thread_id] = "error"


def _wake_pending(
    ctx: SystemContext, report: RecoveryReport, pending: list[Run] | None = None, *, wake: bool = True
) -> None:
    woken: set[str] = set()
    for run in ctx.storage.runs_with_status("pending") if pending is None else pending:
        if ctx.storage.get_thread(run.thread_id) is None:  # its thread's deletion was cut short
            ctx.storage.delete_run(run.run_id)
            continue
        delay = run_delay(run)
        if delay:
            due_in = delay - (now() - run.created_at).total_seconds()
            ctx.runtime.call_later(max(0.0, due_in), ctx.tell_thread, run.thread_id, m.RunDue(run.run_id))
            continue
        if run.thread_id not in woken:
            woken.add(run.thread_id)
            report.resumed_threads.append(run.thread_id)
            # Spawning the actor queues all of the thread's pending runs (on_start); RunDue of a run
            # already queued or started is a no-op.
            if wake:
                ctx.tell_thread(run.thread_id, m.RunDue(run.run_id))
