"""ThreadActor: one per thread. Its mailbox serializes everything that touches the thread - new runs,
run ends, cancels, patches, deletion - and it carries out the multitask `decide()` answers.

It owns a slot for the active run (phases: running -> stopping -> cleaning) and a FIFO queue of
pending run ids. The queue's head starts whenever the slot is free; a successor therefore never
starts before its predecessor's `RunEnded` (and, for rollback, `RollbackDone`) has arrived.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from collections import deque
from typing import Any, Literal

import msgspec
import pykka

from . import messages as m
from ..kernel import serde
from ..context import SystemContext
from ..kernel.dispatch import DispatchedActor
from ..cluster.fencing import writing_for
from ..errors import Conflict, DatabaseUnavailable, Fenced, NotFound, SwitchboardError, ThreadBusy
from .jobs import build_job
from .options import run_delay
from ..models import TERMINAL_RUN_STATUSES, Run, RunOutcome, StopAction, Thread, now, thread_run_config
from .run import RunActor
from ..storage.health import patience
from .strategy import ActiveRun, QueuedFate, decide, merge_stop

log = logging.getLogger("switchboard.thread")

Phase = Literal["running", "stopping", "cleaning"]
STORAGE_ERROR = {
    "error": "StorageUnavailable",
    "message": "The database was unavailable while this run was being recorded, so it was ended. Steps that "
    "completed are kept in the thread's state; start a new run (input null) to continue from them.",
}
MAX_REPAIR_DELAY = 2.0
BUSY_DETAIL = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."
# What a stopped run leaves as the thread's `error`, as the reference words it (the route is named,
# not filled in, there too).
CANCEL_REASON = "{action} requested via POST /threads/{{thread_id}}/runs/{{run_id}}/cancel"
SUPERSEDED_REASON = "superseded by run {run_id} (multitask_strategy={strategy})"


def stop_error(action: StopAction, reason: str) -> dict[str, str]:
    return {"error": "UserRollback" if action == "rollback" else "UserInterrupt", "message": reason}


class ThreadActor(DispatchedActor):
    def __init__(self, thread_id: str, ctx: SystemContext) -> None:
        super().__init__()
        self.dispatcher = ctx.actor_pool  # thread actors share a pool of workers: actors/kernel/dispatch.py
        self.thread_id = thread_id
        self.ctx = ctx
        self.storage = ctx.storage
        self.active: ActiveRun | None = None
        self.phase: Phase | None = None
        self.stop_error: dict[str, str] | None = None  # why the active run is being stopped
        self.run_actor: pykka.ActorRef[Any] | None = None
        self.active_graph_id: str | None = None
        self.queue: deque[str] = deque()
        # Records as this actor last read or wrote them. It is the only writer of its thread's record
        # and runs once they exist (docs/storage.md), so it writes them whole, without reading first;
        # forgotten (read again) whenever a handler fails part-way (`_lost_track`).
        self.thread: Thread | None = None
        self.runs: dict[str, Run] = {}
        """The records of the runs queued or active here."""
        self.cancel_waiters: dict[str, list[m.Reply]] = {}
        self.deleting: list[m.Reply] = []
        self.writing = False  # a WriteState is in flight on the graph loop: no run starts meanwhile
        self.last_active = time.monotonic()
        self.repair_due = False
        """A handler failed part-way (the database was away): storage may not match this actor."""
        self.repair_attempts = 0
        self.repair_scheduled = False
        self.handing_over = False
        """Cluster mode, draining: release the thread once no run of it is running here."""
        self.deferred: list[Any] = []
        """Reply-less messages (a run's end, ...) that failed on an unavailable database: handled
        again after the repair."""

    # --- lifecycle ------------------------------------------------------------------------------

    def on_start(self) -> None:
        with patience(self.ctx.settings.storage_patience), writing_for(self.thread_id):
            try:
                self._queue_pending()
                self._start_next()
            except Fenced:
                self._lost_thread()
            except Exception as exc:  # noqa: BLE001 - an actor that dies on start strands its thread
                log.exception("thread %s: starting failed", self.thread_id)
                self._lost_track(exc)

    def _queue_pending(self, exclude: str | None = None) -> None:
        # Runs left pending by an earlier incarnation (passivation, restart) keep the order they were
        # accepted in: storage lists newest first, in insertion order.
        pending = reversed(self.storage.list_runs(self.thread_id, status="pending"))
        self.queue.extend(r.run_id for r in pending if not run_delay(r) and r.run_id != exclude)

    def on_receive(self, message: Any) -> None:
        if not isinstance(message, m.PassivateIfIdle):  # sweep ticks are not activity
            self.last_active = time.monotonic()
        # writing_for: in cluster mode this turn's writes are fenced by the thread's epoch (actors/cluster/)
        with patience(self.ctx.settings.storage_patience), writing_for(self.thread_id):
            try:
                if self.repair_due and not isinstance(message, (m.PassivateIfIdle, m.RepairThread)):
                    self._repair()
                self._dispatch(message)
            except Exception as exc:  # an actor that dies here would strand the thread: log, reply, live on
                if isinstance(exc, DatabaseUnavailable):  # expected while the database is away: no traceback
                    log.warning("thread %s: %s not handled: %s", self.thread_id, type(message).__name__, exc)
                else:
                    log.exception("thread %s: handling %s failed", self.thread_id, type(message).__name__)
                reply = getattr(message, "reply", None)
                if reply is not None and not reply.done():
                    reply.set_exception(exc if isinstance(exc, SwitchboardError) else SwitchboardError(str(exc)))
                if isinstance(exc, Fenced):
                    self._lost_thread()
                    return
                if not isinstance(exc, SwitchboardError) or isinstance(exc, DatabaseUnavailable):
                    if reply is None and isinstance(exc, DatabaseUnavailable) and not isinstance(message, m.RepairThread):
                        self.deferred.append(message)
                    self._lost_track(exc)

    def _dispatch(self, message: Any) -> None:
        match message:
            case m.CreateRun():
                self._create_run(message)
            case m.RunEnded():
                self._run_ended(message.run_id, message.outcome)
            case m.RollbackDone():
                self._rollback_done(message)
            case m.CancelRun():
                self._cancel_run(message)
            case m.PatchThread():
                message.reply.set_result(self._patch(message.metadata))
            case m.DeleteThread():
                self._delete_thread(message.reply)
            case m.DeleteRun():
                self._delete_ended_run(message)
            case m.WriteState():
                self._write_state(message)
            case m.StateWritten():
                self._state_written(message)
            case m.RunDue():
                self._run_due(message.run_id)
            case m.PassivateIfIdle():
                self._passivate()
            case m.HandOver():
                self.handing_over = True
                self._hand_over_if_free()
            case m.RepairThread():
                self.repair_scheduled = False
                if self.repair_due:
                    self._repair()
        if self.handing_over and not isinstance(message, m.HandOver):
            self._hand_over_if_free()  # a request came in meanwhile: try again once it is answered

    # --- new runs -------------------------------------------------------------------------------

    def _create_run(self, msg: m.CreateRun) -> None:
        run = msg.run
        thread = None if self.deleting else self._thread()
        if thread is None:
            msg.reply.set_exception(NotFound(f"Thread {self.thread_id} not found."))
            return
        delay = run_delay(run)
        if not delay and not self._admit(run.run_id, run.multitask_strategy):
            msg.reply.set_exception(ThreadBusy(BUSY_DETAIL))
            return
        changes = self._run_changes(thread, run)
        remembered = self._thread_with(**changes) if changes else None
        if not delay and self._free():
            # It starts now: stored already `running`, with the thread `busy` (and its graph), in one
            # transaction - the reply and the first step wait for one commit, not two.
            job = self._job(run, remembered)  # None: it cannot start, and was stored ended (`error`)
            if job is not None:
                self._launch(run, job, remembered, reply=msg.reply)
            else:
                msg.reply.set_result(run)
                self._start_next()
            return
        # The run and the thread's graph in one transaction: the reply waits for one commit.
        self.storage.accept_run(run, remembered)
        self.thread = remembered or self.thread
        msg.reply.set_result(run)
        if delay:
            self.ctx.runtime.call_later(delay, self.ctx.tell_thread, self.thread_id, m.RunDue(run.run_id))
            return
        self.queue.append(run.run_id)
        self.runs[run.run_id] = run
        self._start_next()

    def _free(self) -> bool:
        """Whether a run accepted now would start at once."""
        return self.active is None and not self.queue and not self.ctx.draining and not self.writing

    def _admit(self, run_id: str, strategy: Any) -> bool:
        """Apply the strategy; False means rejected. The caller queues the run."""
        decision = decide(self.active, tuple(self.queue), strategy)
        if not decision.accept:
            return False
        for queued in decision.drop_queued:
            self.queue.remove(queued)
            self._drop_pending(queued, decision.drop_as or "interrupted")
        if decision.stop_active is not None:
            self._stop_active(decision.stop_active, SUPERSEDED_REASON.format(run_id=run_id, strategy=strategy))
        return True

    def _thread(self) -> Thread | None:
        """The thread's record (read only if this actor does not know it)."""
        if self.thread is None:
            self.thread = self.storage.get_thread(self.thread_id)
        return self.thread

    def _thread_with(self, **changes: Any) -> Thread | None:
        thread = self._thread()
        return None if thread is None else msgspec.structs.replace(thread, **{"updated_at": now(), **changes})

    def _update_thread(self, **changes: Any) -> Thread | None:
        """Change the thread's record: one write of the record as this actor knows it."""
        updated = self._thread_with(**changes)
        if updated is not None:
            self.thread = None  # unknown until the write has returned
            self.storage.put_thread(updated)
            self.thread = updated
        return updated

    def _run(self, run_id: str) -> Run | None:
        return self.runs.get(run_id) or self.storage.get_run(run_id)

    def _run_changes(self, thread: Thread, run: Run) -> dict[str, Any] | None:
        """As the reference, an accepted run leaves on its thread the graph it runs (metadata; from
        its assistant: a stateless run's metadata has none) and its config (`thread_run_config`)."""
        changes: dict[str, Any] = {}
        assistant = self.storage.get_assistant(run.assistant_id)
        graph_id = assistant.graph_id if assistant is not None else None
        if graph_id and thread.metadata.get("graph_id") != graph_id:
            changes["metadata"] = {**thread.metadata, "graph_id": graph_id, "assistant_id": run.assistant_id}
        config = thread_run_config(thread.config, assistant.config if assistant else {}, run.kwargs.get("config"))
        if config != thread.config:
            changes["config"] = config
        return changes or None

    def _run_due(self, run_id: str) -> None:
        run = self.storage.get_run(run_id)
        if run is None or run.status != "pending" or run_id in self.queue or self.ctx.draining:
            return  # while draining it stays pending: re-timed after the restart
        if not self._admit(run_id, run.multitask_strategy):
            self._finish(run_id, "error", {"__error__": {"error": "ThreadBusy", "message": BUSY_DETAIL}})
            return
        self.queue.append(run_id)
        self._start_next()

    def _start_next(self) -> None:
        while self.active is None and self.queue and not self.ctx.draining and not self.writing:
            run_id = self.queue.popleft()
            run = self._run(run_id)
            if run is None or run.status != "pending":
                self.runs.pop(run_id, None)
                continue
            job = self._job(run)
            if job is not None:
                self._launch(run, job)
        if self.active is None and not self.queue and not self.writing:
            self._became_idle()

    def _job(self, run: Run, thread: Thread | None = None) -> Any:
        """What the run actor needs to run it; None if the run cannot run (then it is ended `error`,
        with `thread`'s record if given: a new run's thread)."""
        try:
            job = build_job(run, self.ctx.assistant_of(run), self.ctx.graphs)
            if job.durability is None:  # completed steps must survive a crash: docs/storage.md
                job = msgspec.structs.replace(job, durability=self.ctx.settings.durability)
            return job
        except DatabaseUnavailable:
            raise  # not the run's fault: it stays pending, the repair queues it again
        except SwitchboardError as exc:
            detail = {"error": type(exc).__name__, "message": exc.detail}
        except Exception as exc:  # a stored record the driver cannot use: end it, keep the thread
            log.exception("thread %s: run %s cannot start", self.thread_id, run.run_id)
            detail = {"error": "InvalidRun", "message": f"{type(exc).__name__}: {exc}"}
        self._finish(run.run_id, "error", {"__error__": detail}, run, thread=thread)
        return None

    def _launch(self, run: Run, job: Any, thread: Thread | None = None, reply: m.Reply | None = None) -> None:
        """Start the run: its record `running` and the thread's `busy` in one transaction (a new
        run's first write, with its `thread` changes), then `reply`, then its run actor."""
        at = now()
        running = msgspec.structs.replace(run, status="running", updated_at=at)
        base = thread or self._thread()
        busy = None if base is None else msgspec.structs.replace(base, status="busy", updated_at=at)
        self.runs.pop(run.run_id, None)
        self.thread = None
        self.storage.start_run(running, busy)
        self.runs[run.run_id], self.thread = running, busy
        if reply is not None:
            reply.set_result(run)  # as accepted: `pending`, as the reference answers
        self._spawn(running, job)

    def _spawn(self, run: Run, job: Any) -> None:
        """The run actor of a run stored `running`: the run is active."""
        run_id = run.run_id
        stream = self.ctx.streams.open(run_id, thread_id=self.thread_id)
        stream.graph_id = job.graph_id
        self.active, self.phase = ActiveRun(run_id), "running"
        self.active_graph_id = job.graph_id
        self.run_actor = RunActor.start(job, stream, self.ctx.runtime, self.actor_ref, self.ctx.settings.run_timeout)

    # --- stopping -------------------------------------------------------------------------------

    def _stop_active(self, action: StopAction, reason: str) -> None:
        assert self.active is not None
        self.active = ActiveRun(self.active.run_id, merge_stop(self.active.stopping, action))
        self.stop_error = stop_error(self.active.stopping or action, reason)
        if self.phase == "running":
            self.phase = "stopping"
            assert self.run_actor is not None
            try:
                self.run_actor.tell(m.StopRun(action))
            except pykka.ActorDeadError:
                pass  # it has just finished: its RunEnded is already in our mailbox

    def _drop_pending(self, run_id: str, fate: QueuedFate) -> None:
        if fate == "deleted":
            self._delete_run(run_id, f"Run {run_id} was deleted by a rollback before it started.")
        else:
            self._finish(run_id, "interrupted", self._current_values())

    def _cancel_run(self, msg: m.CancelRun) -> None:
        run = self._run(msg.run_id)
        if run is None or run.thread_id != self.thread_id or run.status in TERMINAL_RUN_STATUSES:
            msg.reply.set_exception(NotFound("No matching runs to cancel. The run may have already finished."))
            return
        if self.active is not None and self.active.run_id == msg.run_id:
            self._stop_active(msg.action, msg.reason or CANCEL_REASON.format(action=msg.action))
            if msg.wait:
                self.cancel_waiters.setdefault(msg.run_id, []).append(msg.reply)
                return
        elif msg.run_id in self.queue:
            self.queue.remove(msg.run_id)
            self._drop_pending(msg.run_id, "deleted" if msg.action == "rollback" else "interrupted")
        else:  # a delayed run not yet due
            self._drop_pending(msg.run_id, "deleted" if msg.action == "rollback" else "interrupted")
        msg.reply.set_result(None)
        self._start_next()

    # --- ends -----------------------------------------------------------------------------------

    def _run_ended(self, run_id: str, outcome: RunOutcome) -> None:
        if self.active is None or self.active.run_id != run_id:
            log.warning("thread %s: RunEnded for %s, which is not active", self.thread_id, run_id)
            return
        self.run_actor = None
        if self.active.stopping == "rollback":
            self.phase = "cleaning"
            # Checkpoints first, the record last (in _rollback_done): a crash in between leaves a
            # run that recovery ends, never a thread state with writes of a run that looks gone.
            self.ctx.runtime.submit(self._rollback_checkpoints(run_id, self.active_graph_id))
            return
        if outcome.error is not None:
            output: Any = {"__error__": outcome.error}
        elif outcome.interrupts:
            # as the reference's join/wait results: each entry also says it asks for no response schema
            entries = [{**i, "response_schema": i.get("response_schema")} for v in outcome.interrupts.values() for i in v]
            output = {**(outcome.values or {}), "__interrupt__": entries}
        else:
            output = outcome.values
        successor = self._successor()
        thread_status = "busy" if successor or self.queue else outcome.thread_status
        # The thread's state, the run's output and status, and the next run `running`, in one
        # transaction: one commit between a run's end and its successor's start.
        thread = self._thread_with(
            status=thread_status, values=outcome.values, interrupts=outcome.interrupts, state_updated_at=now(),
            error=outcome.error if outcome.error is not None or outcome.status != "interrupted" else self.stop_error,
        )
        self._finish(run_id, outcome.status, output, thread=thread, starting=successor[0] if successor else None)
        self._slot_freed(run_id, successor)

    def _successor(self) -> tuple[Run, Any] | None:
        """The queue's head (record now `running`, and its job) if it starts as soon as the active
        run's end is written, so that both are written together; None if none starts right away."""
        if self.deleting or self.ctx.draining or self.writing or not self.queue:
            return None
        run = self._run(self.queue[0])
        if run is None or run.status != "pending":
            return None  # `_start_next` drops it
        job = self._job(run)  # None: it could not start and is ended `error`
        self.queue.popleft()
        if job is None:
            return None
        return msgspec.structs.replace(run, status="running", updated_at=now()), job

    async def _rollback_checkpoints(self, run_id: str, graph_id: str | None) -> None:
        error, values = None, None
        try:
            await self.storage.delete_checkpoints_for_runs(self.thread_id, [run_id])
            config = {"configurable": {"thread_id": self.thread_id}}
            async with self.ctx.graphs.open(graph_id or "", config) as graph:
                snapshot = await graph.aget_state(config)
            values = serde.to_jsonable(snapshot.values)
        except Exception as exc:  # noqa: BLE001 - reported to the actor, which logs it
            error = f"{type(exc).__name__}: {exc}"
        self.actor_ref.tell(m.RollbackDone(run_id, values=values, error=error))

    def _rollback_done(self, msg: m.RollbackDone) -> None:
        if self.active is None or self.active.run_id != msg.run_id:
            return
        if msg.error:
            # Its writes may still be in the state: keep the run, visibly failed, rather than hide them.
            log.error("thread %s: rolling back run %s failed: %s", self.thread_id, msg.run_id, msg.error)
            detail = {"error": "RollbackFailed", "message": msg.error}
            self._update_thread(status="busy" if self.queue else "error")
            self._finish(msg.run_id, "error", {"__error__": detail})
        else:
            self._delete_run(msg.run_id, f"Run {msg.run_id} was rolled back.")
            self._update_thread(values=msg.values, interrupts={}, error=self.stop_error, state_updated_at=now())
        self._slot_freed(msg.run_id)

    def _slot_freed(self, run_id: str, successor: tuple[Run, Any] | None = None) -> None:
        """`successor`: the next run, stored `running` with the ended run's end: start it now."""
        self.active, self.phase, self.stop_error = None, None, None
        for reply in self.cancel_waiters.pop(run_id, []):
            reply.set_result(None)
        if self.deleting:
            self._finish_delete()
            return
        if successor is not None:
            self._spawn(*successor)
        elif self.handing_over and self._hand_over_if_free():
            return
        self._start_next()

    def _finish(
        self, run_id: str, status: Any, output: Any, run: Run | None = None, *, thread: Thread | None = None,
        starting: Run | None = None,
    ) -> None:
        """End the run: its output, its status and (given) the thread's record and the record of the
        run `starting` next, in one transaction."""
        run = run or self._run(run_id)
        self.runs.pop(run_id, None)
        if run is not None:
            ended = msgspec.structs.replace(run, status=status, updated_at=now())
            record: Any = partial(self.storage.end_run, ended, output, thread, starting)
        else:  # the run is gone (short of a bug, it cannot be): its waiters still hear
            record = partial(self.storage.put_thread, thread) if thread is not None else lambda: None
        if thread is not None:
            self.thread = None  # unknown until the write has returned
        self.ctx.watchers.finish(run_id, output, record)
        if thread is not None:
            self.thread = thread
        if starting is not None:
            self.runs[starting.run_id] = starting
        self._close_stream(run_id)

    def _delete_run(self, run_id: str, reason: str) -> None:
        self.runs.pop(run_id, None)
        self.storage.delete_run(run_id)
        self.ctx.watchers.forget(run_id, reason)
        self._close_stream(run_id)

    def _close_stream(self, run_id: str) -> None:
        feed = self.ctx.streams.feed(self.thread_id)
        if feed is not None:  # whoever follows the thread hears that this run is over
            feed.publish("metadata", {"status": "run_done", "run_id": run_id})
        stream = self.ctx.streams.get(run_id)
        if stream is not None:
            stream.close()
            if stream.resumable:
                self.ctx.runtime.call_later(self.ctx.settings.stream_keep_seconds, self.ctx.streams.discard, run_id)
            else:
                self.ctx.streams.discard(run_id)

    def _current_values(self) -> Any:
        thread = self._thread()
        return thread.values if thread else None

    # --- thread-level requests ------------------------------------------------------------------

    def _patch(self, metadata: dict[str, Any]) -> Any:
        thread = self._thread()
        if thread is None or self.deleting:
            raise NotFound(f"Thread {self.thread_id} not found.")
        return self._update_thread(metadata={**thread.metadata, **metadata})

    def _delete_ended_run(self, msg: m.DeleteRun) -> None:
        run = self.storage.get_run(msg.run_id)
        if run is None or run.thread_id != self.thread_id:
            msg.reply.set_exception(NotFound(f"Run {msg.run_id} not found."))
        elif run.status in ("pending", "running"):
            msg.reply.set_exception(Conflict(f"Run {msg.run_id} is {run.status}; cancel it before deleting it."))
        else:
            self.storage.delete_run(msg.run_id)
            msg.reply.set_result(None)

    def _has_runs(self) -> bool:
        """A run is running or pending; a delayed one (`after_seconds`) not yet due counts too, as
        on the reference: the state would change under it."""
        return self.active is not None or bool(self.queue) or bool(self.storage.list_runs(self.thread_id, status="pending"))

    def _write_state(self, msg: m.WriteState) -> None:
        thread = self._thread()
        if thread is None or self.deleting:
            msg.reply.set_exception(NotFound(f"Thread {self.thread_id} not found."))
            return
        if self.writing or self._has_runs():
            msg.reply.set_exception(Conflict(msg.busy_detail))
            return
        written = self.ctx.runtime.submit(msg.write(thread))  # may raise (no graph): the reply fails
        self.writing = True
        written.add_done_callback(partial(self._tell_written, msg.reply))

    def _tell_written(self, reply: m.Reply, written: Any) -> None:
        error = written.exception() if not written.cancelled() else SwitchboardError("the state write was cancelled")
        self.actor_ref.tell(m.StateWritten(change=None if error else written.result(), error=error, reply=reply))

    def _state_written(self, msg: m.StateWritten) -> None:
        self.writing = False
        try:
            if msg.error is not None:
                msg.reply.set_exception(msg.error)
                return
            change = msg.change
            assert change is not None
            updated = None
            if change.thread_fields:  # no run is active: the write's outcome is the thread's status
                updated = self._update_thread(**change.thread_fields)
            feed = self.ctx.streams.feed(self.thread_id)
            if change.event is not None and feed is not None:  # followers with stream_mode=state_update
                feed.publish("state_update", change.event)
            msg.reply.set_result(updated if change.reply_with_thread else change.result)
        finally:
            if self.deleting:
                self._finish_delete()
            else:
                self._start_next()

    def _delete_thread(self, reply: m.Reply) -> None:
        if self._thread() is None:
            reply.set_exception(NotFound(f"Thread {self.thread_id} not found."))
            return
        self.deleting.append(reply)
        for queued in list(self.queue):
            self._delete_run(queued, f"Run {queued} was deleted with its thread.")
        self.queue.clear()
        if self.active is None and not self.writing:  # else when the run or the write is over
            self._finish_delete()
        elif self.phase == "running":
            self._stop_active("interrupt", "its thread was deleted")

    def _finish_delete(self) -> None:
        for run in self.storage.list_runs(self.thread_id):
            self.ctx.watchers.forget(run.run_id, f"Run {run.run_id} was deleted with its thread.")
        self.thread = None
        self.storage.delete_thread(self.thread_id)
        self.ctx.streams.close_feed(self.thread_id)  # its followers' streams end
        replies, self.deleting = self.deleting, []
        # The deleters hear back once the checkpoints are gone too; the actor does not wait for that
        # (it may itself run on the graph loop, where the deletion happens).
        deleted = self.ctx.runtime.submit(self.storage.delete_thread_checkpoints(self.thread_id))
        if self.ctx.cluster is not None:  # then its owner row goes (actors/cluster/node.py)
            deleted = self.ctx.cluster.deleted(self.thread_id, deleted)
        deleted.add_done_callback(partial(_answer_all, replies))
        if self.ctx.registry.release(self.thread_id, self.actor_ref, lambda: True):
            self.stop()

    # --- repair after a failure -----------------------------------------------------------------

    def _lost_track(self, exc: Exception) -> None:
        """A message could not be handled to the end (after `storage_patience`, if the database was
        away): what storage says may no longer match this actor. Repair soon, and keep retrying
        (with backoff) until it succeeds; every message meanwhile tries the repair first."""
        self.repair_due = True
        self.thread = None  # what storage holds may differ from what this actor last wrote: read again
        self.runs.clear()
        if self.repair_scheduled:
            return
        self.repair_scheduled = True
        delay = min(0.1 * 2**self.repair_attempts, MAX_REPAIR_DELAY)
        self.repair_attempts += 1
        log.warning("thread %s: repairing in %.1f s after %s", self.thread_id, delay, type(exc).__name__)
        self.ctx.runtime.call_later(delay, self._tell_repair)

    def _tell_repair(self) -> None:
        try:
            self.actor_ref.tell(m.RepairThread())
        except pykka.ActorDeadError:
            pass  # stopped meanwhile (shutdown): the next start recovers from storage

    def _repair(self) -> None:
        """Make storage and this actor agree again, as start-up recovery does for a crashed process:
        a run whose end will never be reported is ended `error`; every other `running` run of the
        thread is ended too (nothing runs it); the queue is rebuilt from the pending runs; the
        messages that failed are handled again; the thread goes on with its queue."""
        live = self.active.run_id if self.active is not None and self._active_will_report() else None
        if self.active is not None and live is None:
            ended = self.active.run_id
            self.active, self.phase, self.run_actor = None, None, None
            for reply in self.cancel_waiters.pop(ended, []):
                reply.set_result(None)
        errored = False
        for run in self.storage.list_runs(self.thread_id, status="running"):
            if run.run_id != live:
                self._finish(run.run_id, "error", {"__error__": STORAGE_ERROR}, run)
                errored = True
        if errored and live is None:
            self._update_thread(status="error")
        self.queue.clear()
        self._queue_pending(exclude=live)
        self.repair_due, self.repair_attempts = False, 0
        log.warning("thread %s: repaired (%s)", self.thread_id, "a run was ended" if errored else "nothing lost")
        while self.deferred:
            message = self.deferred.pop(0)
            try:
                self._dispatch(message)
            except DatabaseUnavailable:
                self.deferred.insert(0, message)  # away again: after the next repair
                raise
        if self.deleting and self.active is None:
            self._finish_delete()
            return
        self._start_next()

    def _active_will_report(self) -> bool:
        """Whether a `RunEnded`/`RollbackDone` for the active run is still to come (or deferred)."""
        assert self.active is not None
        if self.run_actor is not None or self.phase == "cleaning":
            return True
        return any(getattr(message, "run_id", None) == self.active.run_id for message in self.deferred)

    def _hand_over_if_free(self) -> bool:
        """Cluster mode, draining: stop and release the thread unless a run or a write is in flight
        (then again when it is over). Pending runs stay in storage, where the taker finds them."""
        if self.active is not None or self.writing or self.deleting or self.cancel_waiters or self.repair_due:
            return False
        if self.thread_id in self.ctx.registry.released_for_hand_over(self.thread_id, self.actor_ref, self.actor_inbox.empty):
            self.stop()
            return True
        return False

    def _lost_thread(self) -> None:
        """Cluster mode: another process took this thread over (this one's lease had lapsed). Stop
        without writing anything more; waiters here hear that it moved (they may ask again)."""
        log.warning("thread %s: owned by another process now; this actor stops", self.thread_id)
        if self.run_actor is not None:
            try:
                self.run_actor.tell(m.StopRun("interrupt"))
            except pykka.ActorDeadError:
                pass
        lost = Fenced(f"thread {self.thread_id} moved to another process; ask again")
        for run_id in [*([self.active.run_id] if self.active else []), *self.queue, *self.cancel_waiters]:
            self.ctx.watchers.fail(run_id, lost)
            for reply in self.cancel_waiters.pop(run_id, []):
                if not reply.done():
                    reply.set_exception(lost)
        for reply in self.deleting:
            if not reply.done():
                reply.set_exception(lost)
        self.ctx.registry.release(self.thread_id, self.actor_ref, lambda: True)
        self.stop()

    # --- passivation ----------------------------------------------------------------------------

    def _became_idle(self) -> None:
        thread = self._thread()
        if thread is not None and thread.status == "busy":
            self._update_thread(status="idle")

    def _passivate(self) -> None:
        # Ticks come from one sweep for all actors (actors/kernel/passivation.py), so going idle costs no
        # timer; an idle actor stops between one and one and a half idle timeouts after its last
        # message.
        if self.active is not None or self.queue or self.cancel_waiters or self.deleting or self.writing or self.repair_due:
            return
        if time.monotonic() - self.last_active < self.ctx.settings.idle_timeout:
            return
        if self.ctx.registry.release(self.thread_id, self.actor_ref, self.actor_inbox.empty):
            self.stop()


def _answer_all(replies: list[m.Reply], deleted: Any) -> None:
    error = None if deleted.cancelled() else deleted.exception()
    for reply in replies:
        if reply.done():
            continue
        if error is not None:
            reply.set_exception(error)
        else:
            reply.set_result(None)
