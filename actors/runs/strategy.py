"""The multitask decision: what a thread does with a new run request. A pure function, no I/O.

The thread actor owns a slot for its active run and a FIFO queue of pending runs. When a new request
arrives it asks `decide(active, queue, strategy)` and carries the answer out. See docs/strategies.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from ..models import StopAction, Strategy

QueuedFate = Literal["interrupted", "deleted"]


class ActiveRun(msgspec.Struct, frozen=True):
    """The run that holds the thread's slot, and the stop already asked of it, if any."""

    run_id: str
    stopping: StopAction | None = None


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    accept: bool
    """False only for `reject` on a busy thread: the request is refused, nothing changes."""
    stop_active: StopAction | None = None
    """Stop (or keep stopping, possibly upgraded) the active run with this action."""
    drop_queued: tuple[str, ...] = ()
    """Pending runs superseded by the new one, in queue order."""
    drop_as: QueuedFate | None = None
    """What becomes of the superseded pending runs: marked `interrupted`, or deleted (rollback)."""


def is_busy(active: ActiveRun | None, queue: Sequence[str]) -> bool:
    return active is not None or len(queue) > 0


def merge_stop(current: StopAction | None, requested: StopAction) -> StopAction:
    """A stop can be upgraded from interrupt to rollback, never downgraded: a rollback may already be
    deleting what the run wrote, so a later `interrupt` cannot bring it back."""
    if current == "rollback" or requested == "rollback":
        return "rollback"
    return "interrupt"


def decide(active: ActiveRun | None, queue: Sequence[str], strategy: Strategy) -> Decision:
    """Decide what happens to a new run request on a thread.

    The new run, when accepted, always goes to the back of the queue; the thread actor starts the
    queue's head whenever the slot is free. So on an idle thread every strategy simply starts the run.
    """
    if not is_busy(active, queue):
        return Decision(accept=True)
    if strategy == "reject":
        return Decision(accept=False)
    if strategy == "enqueue":
        return Decision(accept=True)
    # interrupt / rollback: the newest request wins over the active run and everything queued.
    stop = merge_stop(active.stopping, strategy) if active is not None else None
    fate: QueuedFate = "interrupted" if strategy == "interrupt" else "deleted"
    return Decision(
        accept=True,
        stop_active=stop,
        drop_queued=tuple(queue),
        drop_as=fate if queue else None,
    )
