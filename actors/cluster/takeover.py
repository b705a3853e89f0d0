"""Takeover: threads with pending or running runs and no live owner (their process died, or left with
runs still queued) are claimed by the survivors. Every `lease / 4` (and at once when a peer signals
it released threads, signals.py) each process claims a few such threads (`acquire`, which one
process wins), runs the per-thread recovery of actors/runs/recovery.py on them - runs the dead
owner left `running` follow the recovery policy, pending ones run in their order - and wakes their
thread actors. Start-up in cluster mode does no global recovery: other processes own those runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..models import Run
from ..runs import messages as m
from ..runs.recovery import recover_thread
from .fencing import writing_for
from .ownership import LIVE_OWNER, Ownership

log = logging.getLogger("switchboard.cluster")

BATCH = 16
"""Threads claimed per tick at most (the rest wait for the next tick, or another process)."""

ORPHANS = (
    "SELECT DISTINCT r.parent FROM records r WHERE r.kind = 'run' AND r.status IN ('pending', 'running') "
    "AND r.parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM thread_owners o WHERE o.thread_id = r.parent "
    f"AND {LIVE_OWNER}) LIMIT %s"
)


class Takeover:
    def __init__(self, pool: Any, ownership: Ownership, ctx: Any, *, accepting: Callable[[], bool]) -> None:
        self.pool = pool
        self.ownership = ownership
        self.ctx = ctx
        self.accepting = accepting
        self.taken = 0
        """Threads taken over so far (tests, metrics)."""
        self.follow_up: Callable[[Run], None] | None = None
        """Given each run the thread's last owner had accepted and not finished (Operations: its
        webhook and `on_completion` when it ends, which that owner can no longer send)."""

    def orphans(self, limit: int = BATCH) -> list[str]:
        with self.pool.connection() as conn:
            return [row[0] for row in conn.execute(ORPHANS, (limit,))]

    def tick(self) -> int:
        """Claim and recover what is orphaned now (a few at a time); how many threads were taken."""
        taken = 0
        while self.accepting():
            batch = self.orphans()
            mine = [t for t in batch if self.ownership.acquire(t).taken]
            taken += sum(self.adopt(thread_id) for thread_id in mine)
            if len(batch) < BATCH or not mine:
                break
        return taken

    def adopt(self, thread_id: str, *, wake: bool = True) -> bool:
        """This process has just taken the thread: recover it as start-up recovery would (runs its last
        owner left running follow the policy) and wake its actor (pending runs run in their order;
        `wake=False`: the caller starts it). Requests for it wait until this is done."""
        try:
            with writing_for(thread_id):
                report = recover_thread(self.ctx, thread_id, wake=False)
        except Exception:  # noqa: BLE001 - one thread must not keep the others orphaned
            log.exception("cluster: taking over thread %s failed", thread_id)
            return False
        finally:
            self.ownership.settled(thread_id)
        try:
            self._follow_up(thread_id, report)
        except Exception:  # noqa: BLE001 - webhooks lost; the thread's runs go on
            log.exception("cluster: following up the runs of thread %s failed", thread_id)
        if wake and report.resumed_threads:  # its actor queues the pending runs as it starts
            self.ctx.tell_thread(thread_id, m.RepairThread())
        self.taken += 1
        if report.errored or report.interrupted or report.rolled_back:
            log.warning(
                "cluster: took over thread %s: %d run(s) errored, %d interrupted, %d rolled back",
                thread_id, len(report.errored), len(report.interrupted), len(report.rolled_back),
            )
        return True

    def _follow_up(self, thread_id: str, report: Any) -> None:
        if self.follow_up is None:
            return
        storage = self.ctx.storage
        ended = [run for r in report.errored + report.interrupted if (run := storage.get_run(r)) is not None]
        for run in ended + storage.list_runs(thread_id, status="pending")[::-1]:
            self.follow_up(run)
