"""Every message an actor of this system can be sent. Reading this module tells you what each actor
can be asked. Replies travel in a `concurrent.futures.Future` carried by the message (`reply`), which
both sync callers (`.result()`) and asyncio callers (`runtime.wait_future`) can wait on.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import msgspec

from ..models import Run, RunOutcome, StopAction

Reply = concurrent.futures.Future  # the caller waits on it; the actor sets it exactly once


# --- ThreadActor: one per thread, serializes everything that touches the thread -----------------


class CreateRun(msgspec.Struct, frozen=True, tag=True):
    """A new run for this thread; the actor applies its multitask strategy. Replies with the `Run`
    (status `pending`) or fails the reply with `ThreadBusy`."""

    run: Run
    reply: Any


class CancelRun(msgspec.Struct, frozen=True, tag=True):
    """Stop one run (`interrupt` keeps its steps, `rollback` deletes it). Replies once accepted, or,
    with `wait`, once the run has stopped. `reason` becomes the thread's `error` message (default:
    the reference's words for the cancel route)."""

    run_id: str
    action: StopAction
    wait: bool
    reply: Any
    reason: str | None = None


class RunEnded(msgspec.Struct, frozen=True, tag=True):
    """From a RunActor: the run's driver has stopped; nothing of it executes any more."""

    run_id: str
    outcome: RunOutcome


class RollbackDone(msgspec.Struct, frozen=True, tag=True):
    """The checkpoints of a rolled-back run are deleted; the slot is free again."""

    run_id: str
    values: Any = None
    """The thread's state values after the deletion (what they were before the run)."""
    error: str | None = None


class RunDue(msgspec.Struct, frozen=True, tag=True):
    """A delayed run (`after_seconds`) is due: apply its strategy now."""

    run_id: str


class PatchThread(msgspec.Struct, frozen=True, tag=True):
    """Merge metadata into the thread record. Replies with the updated `Thread`."""

    metadata: dict[str, Any]
    reply: Any


class DeleteThread(msgspec.Struct, frozen=True, tag=True):
    """Cancel every run of the thread, then delete it with its runs and checkpoints."""

    reply: Any


class DeleteRun(msgspec.Struct, frozen=True, tag=True):
    """Delete one ended run's record. Fails with `NotFound`, or `Conflict` while it is pending or
    running (in the order of the mailbox: a run accepted just before is seen pending)."""

    run_id: str
    reply: Any


class WriteState(msgspec.Struct, frozen=True, tag=True):
    """Change the thread's checkpoints (a state update, a new thread's supersteps, a prune) while
    none of its runs is running or pending: refused with `Conflict` otherwise. Runs accepted while
    the write is in flight wait for it; the actor records the thread's new state when it is done.

    `write(thread)` (called by the actor with the current `Thread` record; may raise to refuse)
    returns the coroutine that writes, run on the graph loop, whose result is a `StateChange`."""

    write: Any
    busy_detail: str
    reply: Any


class StateChange(msgspec.Struct, frozen=True):
    """What a `WriteState` did: the reply, the thread record's new fields and the `state_update`
    event for the thread's followers. `reply_with_thread` replies with the updated record instead."""

    result: Any = None
    thread_fields: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    reply_with_thread: bool = False


class StateWritten(msgspec.Struct, frozen=True, tag=True):
    """From the graph loop: the coroutine of a `WriteState` has returned (`change`) or failed."""

    change: StateChange | None
    error: Any
    reply: Any


class PassivateIfIdle(msgspec.Struct, frozen=True, tag=True):
    """The passivation sweep's tick: stop this actor if it has been idle for `idle_timeout` (its
    state is in storage)."""


class HandOver(msgspec.Struct, frozen=True, tag=True):
    """Cluster mode, on SIGTERM: give the thread to another process as soon as no run of it is
    running here (its pending runs stay pending in storage; the taker runs them)."""


class RepairThread(msgspec.Struct, frozen=True, tag=True):
    """A handler failed (the database was away): bring storage and the actor back in line, then
    handle the messages that could not be handled then (actors/thread.py, `_repair`)."""


# --- RunActor: one per running run, executes the graph and answers stop requests ---------------


class StopRun(msgspec.Struct, frozen=True, tag=True):
    """Cancel the step in flight; the run will report `RunEnded` once it has really stopped."""

    action: StopAction


class DriverFinished(msgspec.Struct, frozen=True, tag=True):
    """From the graph loop: the driver coroutine has returned."""

    outcome: RunOutcome | None
    error: str | None = None


ThreadMessage = (
    CreateRun | CancelRun | RunEnded | RollbackDone | RunDue | PatchThread | DeleteThread | DeleteRun | WriteState
    | StateWritten | PassivateIfIdle | RepairThread | HandOver
)
RunMessage = StopRun | DriverFinished
