"""The operations of the system, implemented once for every caller (HTTP, embedded sync, embedded
async). Reads go to storage; anything that changes a thread is a message to its actor, answered
through a `concurrent.futures.Future`. Nothing here blocks: callers choose how to wait."""

from __future__ import annotations

import concurrent.futures
from typing import Any, get_args

from . import messages as m
from . import serde
from .context import SystemContext
from .errors import Conflict, InvalidInput, NotFound, ShuttingDown
from .models import TERMINAL_RUN_STATUSES, Assistant, IfNotExists, Run, StopAction, Strategy, Thread, ThreadStatus, graph_assistant_id, new_id
from .driver import STREAM_MODES
from .streams import RunStream

RUN_OPTIONS = (
    "input", "command", "config", "context", "stream_mode", "stream_subgraphs", "stream_resumable",
    "interrupt_before", "interrupt_after", "checkpoint", "checkpoint_id", "webhook", "after_seconds",
    "durability", "on_completion", "on_disconnect", "if_not_exists", "feedback_keys", "checkpoint_during",
)


def _check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(f"{field}: {value!r} is not one of {list(allowed)}")


def _done(value: Any) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(value)
    return future


def _failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_exception(exc)
    return future


class Operations:
    def __init__(self, ctx: SystemContext) -> None:
        self.ctx = ctx
        self.storage = ctx.storage

    # --- assistants ------------------------------------------------------------------------------

    def get_assistant(self, assistant_id: str) -> Assistant:
        assistant = self.storage.get_assistant(assistant_id)
        if assistant is None and assistant_id in self.ctx.graphs.ids:
            assistant = self.storage.get_assistant(graph_assistant_id(assistant_id))
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found.")
        return assistant

    def search_assistants(
        self, graph_id: str | None = None, metadata: dict[str, Any] | None = None, limit: int = 10, offset: int = 0
    ) -> list[Assistant]:
        found = [
            a
            for a in self.storage.list_assistants()
            if (graph_id is None or a.graph_id == graph_id)
            and all(a.metadata.get(k) == v for k, v in (metadata or {}).items())
        ]
        found.sort(key=lambda a: a.created_at, reverse=True)
        return found[offset : offset + limit]

    # --- threads ---------------------------------------------------------------------------------

    def create_thread(
        self, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise"
    ) -> Thread:
        _check_choice("if_exists", if_exists, ("raise", "do_nothing"))
        thread = Thread(thread_id=thread_id or new_id(), metadata=dict(metadata or {}))
        if not self.storage.create_thread(thread):
            if if_exists == "do_nothing":
                return self.get_thread(thread.thread_id)
            raise Conflict(f"Thread {thread.thread_id} already exists.")
        return thread

    def get_thread(self, thread_id: str) -> Thread:
        thread = self.storage.get_thread(thread_id)
        if thread is None:
            raise NotFound(f"Thread {thread_id} not found.")
        return thread

    def search_threads(
        self,
        metadata: dict[str, Any] | None = None,
        status: ThreadStatus | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[Thread]:
        threads = [
            t
            for t in self.storage.list_threads()
            if (status is None or t.status == status)
            and all(t.metadata.get(k) == v for k, v in (metadata or {}).items())
        ]
        threads.sort(key=lambda t: t.created_at, reverse=True)
        return threads[offset : offset + limit]

    def update_thread(self, thread_id: str, metadata: dict[str, Any]) -> concurrent.futures.Future[Thread]:
        if self.storage.get_thread(thread_id) is None:
            return _failed(NotFound(f"Thread {thread_id} not found."))
        reply: concurrent.futures.Future[Thread] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.PatchThread(metadata=dict(metadata or {}), reply=reply))
        return reply

    def delete_thread(self, thread_id: str) -> concurrent.futures.Future[None]:
        if self.storage.get_thread(thread_id) is None:
            return _failed(NotFound(f"Thread {thread_id} not found."))
        reply: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.DeleteThread(reply=reply))
        return reply

    def get_state(self, thread_id: str) -> concurrent.futures.Future[dict[str, Any]]:
        thread = self.get_thread(thread_id)
        graph_id = thread.metadata.get("graph_id")
        if graph_id not in self.ctx.graphs.ids:
            return _done(empty_state())
        graph = self.ctx.graphs.get(graph_id)
        return self.ctx.runtime.submit(_read_state(graph, thread_id))

    # --- runs ------------------------------------------------------------------------------------

    def prepare_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> Run:
        """Validate a run request and build its record (nothing is sent yet)."""
        unknown = set(options) - set(RUN_OPTIONS) - {"metadata", "multitask_strategy"}
        if unknown:
            raise InvalidInput(f"unknown run option(s): {sorted(unknown)}")
        strategy = options.get("multitask_strategy") or "enqueue"
        _check_choice("multitask_strategy", strategy, get_args(Strategy))
        if_not_exists = options.get("if_not_exists") or "reject"
        _check_choice("if_not_exists", if_not_exists, get_args(IfNotExists))
        modes = options.get("stream_mode") or ["values"]
        for mode in [modes] if isinstance(modes, str) else modes:
            _check_choice("stream_mode", mode, tuple(STREAM_MODES))
        if options.get("input") is not None and options.get("command") is not None:
            raise InvalidInput("input and command cannot both be given")
        assistant = self.ctx.resolve_assistant(assistant_id)
        if thread_id is None:
            thread_id = self.create_thread().thread_id
        elif self.storage.get_thread(thread_id) is None:
            if if_not_exists != "create":
                raise NotFound("Thread or assistant not found.")
            self.create_thread(thread_id, if_exists="do_nothing")
        metadata = {**(options.get("metadata") or {}), "graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id}
        kwargs = {k: options[k] for k in RUN_OPTIONS if options.get(k) is not None}
        return Run(
            run_id=new_id(),
            thread_id=thread_id,
            assistant_id=assistant.assistant_id,
            metadata=metadata,
            multitask_strategy=strategy,
            kwargs=kwargs,
        )

    def open_stream(self, run: Run) -> RunStream:
        """Open a run's event stream before it is submitted, so a subscriber misses nothing."""
        return self.ctx.streams.open(run.run_id, resumable=bool(run.kwargs.get("stream_resumable")))

    def submit_run(self, run: Run) -> concurrent.futures.Future[Run]:
        """Hand a prepared run to its thread actor; the reply is the run (`pending`) or `ThreadBusy`."""
        if self.ctx.draining:
            return _failed(ShuttingDown("The server is shutting down and accepts no new runs; retry shortly."))
        if run.kwargs.get("stream_resumable"):
            self.open_stream(run)
        reply: concurrent.futures.Future[Run] = concurrent.futures.Future()
        if self.ctx.streams.get(run.run_id) is not None:
            reply.add_done_callback(lambda f: f.exception() and self.ctx.streams.discard(run.run_id))
        self.ctx.tell_thread(run.thread_id, m.CreateRun(run=run, reply=reply))
        return reply

    def join_stream(self, thread_id: str, run_id: str) -> RunStream:
        """The event stream of a run (opened if it has not started yet); closed if it has ended."""
        run = self.get_run(thread_id, run_id)
        stream = self.ctx.streams.get(run_id)
        if stream is None:
            stream = self.ctx.streams.open(run_id)
            if run.status in TERMINAL_RUN_STATUSES:
                stream.close()
                self.ctx.streams.discard(run_id)
        return stream

    def stream_still_live(self, run_id: str, stream: RunStream) -> None:
        """After subscribing: if the run ended meanwhile, make sure the stream is closed."""
        run = self.storage.get_run(run_id)
        if run is None or run.status in TERMINAL_RUN_STATUSES:
            if not stream.resumable:
                stream.close()
                self.ctx.streams.discard(run_id)

    def create_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> concurrent.futures.Future[Run]:
        try:
            run = self.prepare_run(thread_id, assistant_id, **options)
        except Exception as exc:
            return _failed(exc)
        return self.submit_run(run)

    def get_run(self, thread_id: str, run_id: str) -> Run:
        run = self.storage.get_run(run_id)
        if run is None or run.thread_id != thread_id:
            raise NotFound(f"Run {run_id} not found.")
        return run

    def list_runs(self, thread_id: str, limit: int = 10, offset: int = 0, status: str | None = None) -> list[Run]:
        self.get_thread(thread_id)
        return self.storage.list_runs(thread_id, status=status)[offset : offset + limit]  # type: ignore[arg-type]

    def join_run(self, thread_id: str, run_id: str) -> concurrent.futures.Future[Any]:
        try:
            self.get_run(thread_id, run_id)
        except NotFound as exc:
            return _failed(exc)
        return self.ctx.watchers.watch(run_id)

    def cancel_run(
        self, thread_id: str, run_id: str, *, wait: bool = False, action: StopAction = "interrupt"
    ) -> concurrent.futures.Future[None]:
        try:
            _check_choice("action", action, ("interrupt", "rollback"))
            self.get_run(thread_id, run_id)
        except Exception as exc:
            return _failed(exc)
        reply: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.ctx.tell_thread(thread_id, m.CancelRun(run_id=run_id, action=action, wait=wait, reply=reply))
        return reply

    def delete_run(self, thread_id: str, run_id: str) -> None:
        run = self.get_run(thread_id, run_id)
        if run.status in ("pending", "running"):
            raise Conflict(f"Run {run_id} is {run.status}; cancel it before deleting it.")
        self.storage.delete_run(run_id)

    def run_stream(self, run_id: str) -> RunStream | None:
        return self.ctx.streams.get(run_id)


def empty_state() -> dict[str, Any]:
    return {
        "values": {}, "next": [], "tasks": [], "metadata": {}, "created_at": None,
        "checkpoint": None, "parent_checkpoint": None, "interrupts": [],
    }


async def _read_state(graph: Any, thread_id: str) -> dict[str, Any]:
    snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    return snapshot_to_dict(snapshot)


def snapshot_to_dict(snapshot: Any) -> dict[str, Any]:
    def checkpoint_of(config: Any) -> dict[str, Any] | None:
        if not config:
            return None
        c = config.get("configurable", {})
        return {"thread_id": c.get("thread_id"), "checkpoint_ns": c.get("checkpoint_ns", ""), "checkpoint_id": c.get("checkpoint_id")}

    return serde.to_jsonable(
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": [
                {"id": t.id, "name": t.name, "error": repr(t.error) if t.error else None,
                 "interrupts": list(t.interrupts), "state": None}
                for t in snapshot.tasks
            ],
            "metadata": snapshot.metadata or {},
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint_of(snapshot.config),
            "parent_checkpoint": checkpoint_of(snapshot.parent_config),
            "interrupts": list(snapshot.interrupts),
        }
    )

