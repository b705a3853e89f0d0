"""Drives one run's graph on the graph loop: stream its steps, publish events, report the outcome.

The run actor owns a `RunDriver`; `start()` returns a thread-safe future of the `RunOutcome`, and
`stop()` (callable from any thread) cancels the step in flight at once. A stopped driver still reports
an outcome - only after the run's blocking sync calls have returned - so the thread never starts a
successor while a step of this run is executing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any, get_args

import msgspec
from langchain_core.messages import message_chunk_to_message
from langgraph.types import Command, Send

from ..kernel import serde
from ..models import RunOutcome, StreamMode
from ..state import thread_interrupts
from ..kernel.runtime import GraphLoop, current_run_id
from ..kernel.streams import RunStream

log = logging.getLogger("switchboard.driver")

# API stream mode -> (LangGraph stream mode, SSE event name)
STREAM_MODES: dict[str, tuple[str, str]] = {
    "values": ("values", "values"),
    "updates": ("updates", "updates"),
    "custom": ("custom", "custom"),
    "debug": ("debug", "debug"),
    "tasks": ("tasks", "tasks"),
    "checkpoints": ("checkpoints", "checkpoints"),
    "messages": ("messages", "messages"),
    "messages-tuple": ("messages", "messages"),
    "events": ("", "events"),  # LangChain callback events: astream_events, not a LangGraph mode
}
if set(STREAM_MODES) != set(get_args(StreamMode)):  # one list of modes: models.StreamMode
    raise RuntimeError("every API stream mode needs a mapping here")


class RunJob(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the driver needs, decided before the run starts."""

    run_id: str
    thread_id: str
    graph_id: str
    graph: Any  # a GraphSource (actors/config/graphs.py): opened on the graph loop with `config` for this run
    config: dict[str, Any]
    input: Any = None
    command: dict[str, Any] | None = None
    stream_mode: tuple[str, ...] = ("values",)
    stream_subgraphs: bool = False
    interrupt_before: Any = None
    interrupt_after: Any = None
    context: Any = None
    durability: str | None = None


def _command(spec: dict[str, Any]) -> Command:
    goto = spec.get("goto") or ()
    goto = [_goto(g) for g in goto] if isinstance(goto, list) else _goto(goto)
    return Command(resume=spec.get("resume"), update=spec.get("update"), goto=goto)


def _goto(target: Any) -> Any:
    """A node name, or `{"node", "input"}` as the API spells a `Send` (as the reference maps it)."""
    return Send(target["node"], target.get("input")) if isinstance(target, dict) else target


def _event_name(base: str, namespace: Sequence[str]) -> str:
    return "|".join([base, *namespace]) if namespace else base


class RunDriver:
    def __init__(self, job: RunJob, stream: RunStream, runtime: GraphLoop, timeout: float | None = None) -> None:
        self.job = job
        self.timeout = timeout
        self._timed_out = False
        self.stream = stream
        self.runtime = runtime
        self._task: asyncio.Task[Any] | None = None
        self._in_steps = False
        self._stop_requested = False
        # The root graph's last `values` chunk: for a run that simply completes, the thread's final
        # values, so the outcome needs no state read (see `_quick_outcome`).
        self._last_values: Any = _NOTHING
        self._track_values = False
        self.graph: Any = None  # the compiled graph, once opened (a factory is called with this run's config)

    def _tracks_values(self) -> bool:
        job = self.job
        return (
            "events" not in job.stream_mode
            and job.interrupt_before is None
            and job.interrupt_after is None
            and values_are_state(self.graph)
        )

    def start(self) -> concurrent.futures.Future[RunOutcome]:
        return self.runtime.submit(self._main())

    def stop(self) -> None:
        """Cancel the step in flight (thread-safe; idempotent)."""
        self.runtime.call_soon(self._cancel)

    def _cancel(self) -> None:
        self._stop_requested = True
        if self._in_steps and self._task is not None:
            self._task.cancel()  # lands in `_steps`, at the await in flight

    def _time_out(self) -> None:
        if self._in_steps and not self._stop_requested:  # a stop asked for first keeps its meaning
            self._timed_out = True
            self._cancel()

    async def _main(self) -> RunOutcome:
        job = self.job
        token = current_run_id.set(job.run_id)
        self._task = asyncio.current_task()
        try:
            async with contextlib.AsyncExitStack() as graph_in_use:  # a factory's context manager stays entered
                return await self._run(graph_in_use)
        finally:
            current_run_id.reset(token)

    async def _open_graph(self, graph_in_use: contextlib.AsyncExitStack) -> None:
        job = self.job
        self.graph = await graph_in_use.enter_async_context(
            job.graph.open(job.config, "threads.create_run", job.context)
        )

    async def _run(self, graph_in_use: contextlib.AsyncExitStack) -> RunOutcome:
        job = self.job
        self.stream.publish("metadata", {"run_id": job.run_id, "attempt": 1})
        error: BaseException | None = None
        cancelled = self._stop_requested  # stopped before it began: no step runs
        if not cancelled:
            # The steps run in this task (no task of their own: one less hop per run); a stop
            # cancels it only while `_in_steps`, so what follows always completes.
            self._in_steps = True
            timer = None
            if self.timeout is not None:
                timer = asyncio.get_running_loop().call_later(self.timeout, self._time_out)
            try:
                await self._open_graph(graph_in_use)
                await self._steps()
            except asyncio.CancelledError:
                cancelled = True
                self._task.uncancel()
            except Exception as exc:  # a node raised: the run ends in `error`, the thread lives on
                error = exc
            finally:
                self._in_steps = False
                if timer is not None:
                    timer.cancel()
        # Sync nodes cannot be cancelled: wait until they return; their results are discarded.
        await self.runtime.executor.drained(job.run_id)
        if self.graph is None and error is None:  # stopped before it began: read the state all the same
            try:
                await self._open_graph(graph_in_use)
            except Exception as exc:  # noqa: BLE001 - the factory failed: the run ends in error
                error = exc
        return await self._outcome(cancelled=cancelled, error=error)

    async def _steps(self) -> None:
        job = self.job
        modes = [STREAM_MODES[m][0] for m in job.stream_mode if m != "events"]
        names = {STREAM_MODES[m][0]: STREAM_MODES[m][1] for m in job.stream_mode if m != "events"}
        track = self._track_values = self._tracks_values()
        if track:
            modes.append("values")  # read, and published only if asked for
        kwargs: dict[str, Any] = {
            "stream_mode": list(dict.fromkeys(modes)) or ["values"],
            "subgraphs": job.stream_subgraphs,
        }
        if job.interrupt_before is not None:
            kwargs["interrupt_before"] = job.interrupt_before
        if job.interrupt_after is not None:
            kwargs["interrupt_after"] = job.interrupt_after
        context_schema = getattr(self.graph, "context_schema", None)
        if job.context is not None:
            kwargs["context"] = fit_context(context_schema, job.context)
        elif has_default_context(context_schema):
            kwargs["context"] = {}  # as the reference: the nodes get the schema's defaults, not None
        if job.durability is not None:
            kwargs["durability"] = job.durability
        graph_input = _command(job.command) if job.command else job.input
        publish = self.stream.publish
        messages = MessageEvents(publish) if "messages" in job.stream_mode else None
        tuples = "messages-tuple" in job.stream_mode
        async for part in self._parts(graph_input, kwargs):
            if job.stream_subgraphs:
                namespace, mode, chunk = part
            else:
                namespace, (mode, chunk) = (), part
            if track and mode == "values" and not namespace:
                self._last_values = chunk
            if mode == "messages":
                if messages is not None:
                    messages.add(chunk)
                if tuples:
                    publish(_event_name("messages", namespace), list(chunk))
                continue
            if mode in names:
                if mode == "debug":
                    chunk = with_checkpoint_ids(chunk)
                publish(_event_name(names[mode], namespace), chunk)
        if messages is not None:
            messages.complete()

    def _parts(self, graph_input: Any, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The graph's stream parts; with `events` asked for, taken from `astream_events`, whose
        root `on_chain_stream` events carry the parts and whose other events are published as `events`."""
        job = self.job
        if "events" not in job.stream_mode:
            return self.graph.astream(graph_input, job.config, **kwargs)
        return self._parts_from_events(graph_input, kwargs)

    async def _parts_from_events(self, graph_input: Any, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        # As the reference: the root run is the API's run (its id) and is named after the graph.
        config = {**self.job.config, "run_id": uuid.UUID(self.job.run_id), "run_name": self.job.graph_id}
        async for event in self.graph.astream_events(graph_input, config, version="v2", **kwargs):
            if event["event"] == "on_chain_stream" and not event.get("parent_ids"):
                # the graph's own output: the other modes' parts, not an event (nor on the reference)
                yield event["data"]["chunk"]
            else:
                self.stream.publish("events", event)

    def _quick_outcome(self) -> RunOutcome | None:
        """The outcome of a run that completed, from its last `values` chunk; None when the state
        must be read (an interrupt, no chunk seen, a graph whose values are not its whole state)."""
        values = self._last_values
        if not isinstance(values, dict) or "__interrupt__" in values:
            return None
        return RunOutcome(status="success", thread_status="idle", values=serde.to_jsonable(values))

    async def _outcome(self, *, cancelled: bool, error: BaseException | None) -> RunOutcome:
        job = self.job
        if not cancelled and error is None and (quick := self._quick_outcome()) is not None:
            return quick
        state_config = {"configurable": {"thread_id": job.thread_id}}
        values, interrupts, paused = None, {}, False
        if self.graph is not None:  # None: its factory raised, and that is the run's error
            try:
                snapshot = await self.graph.aget_state(state_config, subgraphs=job.stream_subgraphs)
                values = serde.to_jsonable(snapshot.values)
                paused = bool(snapshot.next)  # interrupt_before/after, or interrupt() in a node
                interrupts = thread_interrupts(snapshot)
            except Exception as exc:  # the state itself cannot be read: report the run as failed
                log.exception("run %s: reading the final state failed", job.run_id)
                values, interrupts, paused = None, {}, False
                error = error or exc
        if error is not None:
            detail = {"error": type(error).__name__, "message": str(error)}
            self.stream.publish("error", detail)
            return RunOutcome(status="error", thread_status="error", values=values, error=detail)
        if self._timed_out:
            detail = {
                "error": "TimeoutError",
                "message": f"The run did not finish within {self.timeout:g} s and was stopped (--run-timeout).",
            }
            self.stream.publish("error", detail)
            return RunOutcome(status="timeout", thread_status="error", values=values, error=detail)
        if cancelled:
            # As the reference: a run stopped between steps leaves the thread `interrupted` when its
            # state has steps still to run (a new run with `input: null` would continue it).
            thread_status = "interrupted" if interrupts or paused else "idle"
            return RunOutcome(status="interrupted", thread_status=thread_status, values=values, interrupts=interrupts)
        if interrupts or paused:
            return RunOutcome(
                status="success", thread_status="interrupted", values=values, interrupts=interrupts
            )
        return RunOutcome(status="success", thread_status="idle", values=values)


_NOTHING = object()


def with_checkpoint_ids(event: Any) -> Any:
    """A debug `checkpoint` event as the reference sends it: its payload also names the checkpoint
    and its parent as `checkpoint` / `parent_checkpoint` (`{checkpoint_id, thread_id,
    checkpoint_ns[, checkpoint_map]}`, taken from `config` / `parent_config`)."""
    if not isinstance(event, dict) or event.get("type") != "checkpoint" or not isinstance(event.get("payload"), dict):
        return event
    payload = event["payload"]
    shaped = {
        **payload,
        "checkpoint": _checkpoint_ids(payload.get("config")),
        "parent_checkpoint": _checkpoint_ids(payload.get("parent_config")),
    }
    if isinstance(payload.get("tasks"), list):
        shaped["tasks"] = [_task_checkpoint(task) for task in payload["tasks"]]
    return {**event, "payload": shaped}


def _task_checkpoint(task: Any) -> Any:
    """A subgraph's task in a debug checkpoint event, as the reference sends it: the subgraph's config
    (LangGraph's `state: {"configurable": {checkpoint_ns, thread_id}}`) becomes `checkpoint:
    {checkpoint_ns, thread_id}`, as in `GET /threads/{id}/state`."""
    state = task.get("state") if isinstance(task, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("configurable"), dict):
        return task
    return {**{k: v for k, v in task.items() if k != "state"}, "checkpoint": dict(state["configurable"])}


def _checkpoint_ids(config: Any) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") if isinstance(config, dict) else None
    if not configurable or "checkpoint_id" not in configurable:
        return None
    ids = {key: configurable.get(key) for key in ("checkpoint_id", "thread_id", "checkpoint_ns")}
    if "checkpoint_map" in configurable:
        ids["checkpoint_map"] = configurable["checkpoint_map"]
    return ids


def fit_context(schema: Any, context: Any) -> Any:
    """A context dict cut to the fields of the graph's dataclass or pydantic `context_schema`, as
    the reference does: an assistant's context mirrors its `configurable`, whose other keys (and
    unknown keys in a run's context) are dropped rather than failing the run."""
    if not isinstance(context, dict) or not isinstance(schema, type):
        return context
    if dataclasses.is_dataclass(schema):
        names = {f.name for f in dataclasses.fields(schema)}
    elif hasattr(schema, "model_fields"):
        names = set(schema.model_fields)
    else:
        return context  # a TypedDict or anything else: LangGraph passes it on as it is
    return {k: v for k, v in context.items() if k in names}


def has_default_context(schema: Any) -> bool:
    """Whether a dataclass or pydantic `context_schema` can be built from nothing (every field has a
    default): then a run without `context` gets that default context, as on the reference."""
    if not isinstance(schema, type):
        return False
    if dataclasses.is_dataclass(schema):
        return all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                   for f in dataclasses.fields(schema))
    if hasattr(schema, "model_fields"):
        return not any(f.is_required() for f in schema.model_fields.values())
    return False


_values_are_state: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def values_are_state(graph: Any) -> bool:
    """Whether the graph's `values` stream is its whole state and any pause shows in it as
    `__interrupt__`: its output channels are its state channels, and neither it nor a subgraph has
    static breakpoints (`interrupt_before/after` compiled in), which pause without that key.
    Worked out once per graph."""
    known = _values_are_state.get(graph)
    if known is None:
        known = _values_are_state[graph] = _inspect_values(graph)
    return known


def _inspect_values(graph: Any) -> bool:
    try:
        graphs = [graph, *(sub for _ns, sub in graph.get_subgraphs(recurse=True))]
        if any(g.interrupt_before_nodes or g.interrupt_after_nodes for g in graphs):
            return False
        output, state = graph.output_channels, graph.stream_channels_asis
        return isinstance(output, (list, tuple)) and list(output) == list(state)
    except Exception:  # noqa: BLE001 - an unusual graph: read the state, as always
        return False


class MessageEvents:
    """`stream_mode="messages"` in the reference's shape: `messages/metadata` when a message first
    appears, `messages/partial` with the message accumulated so far for each token chunk (as the
    Python reference), and `messages/complete` with each message on its own once it is whole (as the
    JS reference): at once for a message a node returned, after the partial of its last chunk
    (`chunk_position="last"`) for a streamed one. Messages are sent as the message types (`ai`, not
    `AIMessageChunk`), as both reference servers send them. The event names carry no subgraph
    namespace, also with `stream_subgraphs` (the reference's do not: `useStream` reads them so). A
    streamed message whose model never marked its last chunk is completed when the steps are done."""

    def __init__(self, publish: Any) -> None:
        self.publish = publish
        self.partial: dict[str, Any] = {}  # message id -> the chunks merged so far; None: completed

    def add(self, part: Any) -> None:
        message, metadata = part
        key = getattr(message, "id", None) or str(id(message))
        if key not in self.partial:
            self.publish("messages/metadata", {key: {"metadata": metadata}})
        elif self.partial[key] is None:
            return  # already completed (LangGraph may repeat a finished message)
        if not type(message).__name__.endswith("Chunk"):
            self.partial[key] = None
            self.publish("messages/complete", [message])
            return
        previous = self.partial.get(key)
        merged = self.partial[key] = message if previous is None else previous + message
        whole = message_chunk_to_message(merged)
        self.publish("messages/partial", [whole])
        if getattr(message, "chunk_position", None) == "last":
            self.partial[key] = None
            self.publish("messages/complete", [whole])

    def complete(self) -> None:
        for merged in self.partial.values():
            if merged is not None:
                self.publish("messages/complete", [message_chunk_to_message(merged)])
        self.partial.clear()
