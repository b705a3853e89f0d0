"""Graceful shutdown (SIGTERM / Ctrl-C): stop taking runs, let running ones finish, interrupt the rest.

`drain()` sets `ctx.draining`: `Operations.submit_run` then refuses new runs with `ShuttingDown`
(HTTP 503 + `Retry-After`) and thread actors start no further run from their queues, so `pending`
runs stay pending in storage and run after the restart, in order. Runs already `running` get
`grace` seconds to finish; those still running then are interrupted (their completed steps stay
in the checkpoints) and their status is persisted before `drain()` returns.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from typing import Any

import msgspec

from ..context import SystemContext
from ..operations import Operations

log = logging.getLogger("switchboard.shutdown")
SHUTDOWN_REASON = "the server shut down before the run finished"  # its thread's `error` message


class DrainReport(msgspec.Struct, kw_only=True):
    finished_in_grace: int = 0
    interrupted: list[str] = msgspec.field(default_factory=list)


def drain(ctx: SystemContext, ops: Operations, grace: float, poll: float = 0.05) -> DrainReport:
    ctx.draining = True
    if ctx.cluster is not None:  # peers take the threads over as soon as no run of theirs runs here
        ctx.cluster.hand_over()
    running = _ours(ctx, ctx.storage.runs_with_status("running"))
    report = DrainReport()
    log.info("shutting down: %d run(s) running, up to %.1fs to finish", len(running), grace)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        time.sleep(poll)
        still = _ours(ctx, ctx.storage.runs_with_status("running"))
        report.finished_in_grace += len(running) - len(still)
        running = still
    futures = []
    for run in running:
        futures.append(ops.cancel_run(run.thread_id, run.run_id, wait=True, action="interrupt", reason=SHUTDOWN_REASON))
        report.interrupted.append(run.run_id)
    _done, not_done = concurrent.futures.wait(futures, timeout=30)
    if not_done:
        log.error("shutting down: %d run(s) did not stop within 30s", len(not_done))
    if report.interrupted:
        log.warning("shutting down: interrupted %d run(s) after the grace period", len(report.interrupted))
    return report


def _ours(ctx: SystemContext, runs: list[Any]) -> list[Any]:
    """The runs this process runs (cluster mode: those of the threads it owns; else all)."""
    return runs if ctx.cluster is None else [r for r in runs if ctx.cluster.owns(r.thread_id)]
