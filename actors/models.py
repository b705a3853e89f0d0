"""The records the system keeps: assistants, threads and runs, in the reference server's wire shape.

They are plain `msgspec.Struct`s, so the HTTP layer encodes them as they are and the storage layer
can copy them cheaply (`msgspec.structs.replace`).
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import msgspec

RunStatus = Literal["pending", "running", "success", "error", "interrupted", "timeout"]
ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
Strategy = Literal["reject", "interrupt", "rollback", "enqueue"]
StopAction = Literal["interrupt", "rollback"]
IfNotExists = Literal["create", "reject"]
StreamMode = Literal[
    "values", "updates", "custom", "debug", "tasks", "checkpoints", "messages", "messages-tuple", "events"
]
Durability = Literal["sync", "async", "exit"]
OnCompletion = Literal["delete", "keep"]
OnDisconnect = Literal["cancel", "continue"]
NodeNames = Literal["*"] | list[str]

TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"success", "error", "interrupted", "timeout"})


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A time-ordered UUID (v7 layout), so ids sort by creation like the reference server's."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10)) & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


@functools.lru_cache(maxsize=1024)  # asked on every run naming its graph instead of an assistant
def graph_assistant_id(graph_id: str) -> str:
    """The stable id of a graph's default assistant (same graph id -> same UUID across restarts)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"switchboard.assistant.{graph_id}"))


class Assistant(msgspec.Struct, kw_only=True):
    assistant_id: str
    graph_id: str
    name: str
    description: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    version: int = 1
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)


class Thread(msgspec.Struct, kw_only=True):
    """A thread as the reference sends it: `error` and `interrupts` are left out (UNSET) until a run
    ends or the state is updated, then say what the last one left (`error`: null, the run's error,
    or why it was stopped)."""

    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)
    state_updated_at: datetime = msgspec.field(default_factory=now)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    status: ThreadStatus = "idle"
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    """What its runs were configured with, as the reference keeps it: `thread_run_config`."""
    values: Any = None
    error: dict[str, Any] | None | msgspec.UnsetType = msgspec.UNSET
    interrupts: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def thread_run_config(thread_config: dict[str, Any], assistant_config: dict[str, Any], run_config: dict[str, Any] | None) -> dict[str, Any]:
    """A thread's `config` once a run is accepted, as the reference keeps it: the thread's, then the
    assistant's config, then the run's on top, except the run's own `configurable` (its per-request
    values, which the thread does not keep)."""
    run_config = run_config if isinstance(run_config, dict) else {}
    config = {**thread_config, **assistant_config, **{k: v for k, v in run_config.items() if k != "configurable"}}
    config["configurable"] = {**(thread_config.get("configurable") or {}), **(assistant_config.get("configurable") or {})}
    return config


class RunCommand(msgspec.Struct, omit_defaults=True):
    """A run's `command`: resume an interrupt, update the state, go to a node."""

    resume: Any = None
    update: Any = None
    goto: Any = None


class RunOptions(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How a run is to be executed, as the caller gives it besides its assistant, strategy and
    metadata, with the wire's defaults: the one definition. The server decodes a request body as
    it (`server/schemas.py` `RunCreate` adds the assistant, strategy and metadata), embedded callers
    and crons give the same names; it is stored with the run as `Run.kwargs` (a plain object, so
    records of every earlier version still load) and read by attribute through `Run.options`. On
    the wire, `kwargs` is the reference's resolved run instead (`Run.on_the_wire`)."""

    input: Any = None
    command: RunCommand | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: NodeNames | None = None
    interrupt_after: NodeNames | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    webhook: str | None = None
    after_seconds: float | None = None
    durability: Durability | None = None
    on_completion: OnCompletion | None = None
    on_disconnect: OnDisconnect | None = None
    if_not_exists: IfNotExists | None = None
    feedback_keys: list[str] | None = None
    checkpoint_during: bool | None = None

    def start_checkpoint(self) -> dict[str, Any]:
        """`checkpoint_id` / `checkpoint_ns` for `configurable`: the checkpoint the run starts from."""
        checkpoint = self.checkpoint or {}
        found = {"checkpoint_id": self.checkpoint_id or checkpoint.get("checkpoint_id"), "checkpoint_ns": checkpoint.get("checkpoint_ns")}
        return {k: v for k, v in found.items() if v}


RUN_OPTIONS: tuple[str, ...] = RunOptions.__struct_fields__


class Run(msgspec.Struct, kw_only=True):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)
    status: RunStatus = "pending"
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    multitask_strategy: Strategy = "enqueue"
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    """The run's `RunOptions` as stored (unset ones left out); on the wire, the resolved run."""
    langsmith_session_name: str | None = None
    """Always null: the reference's field (no LangSmith tracing here)."""

    @property
    def options(self) -> RunOptions:
        """The stored options, typed; `msgspec.ValidationError` for a record no version of ours
        wrote (a hand-edited or corrupted row: the thread actor ends such a run `error`)."""
        return msgspec.convert(self.kwargs, RunOptions)

    def on_the_wire(self) -> Run:
        """This run as the reference sends it: `kwargs` is the resolved run (see `resolved_run`),
        not the options as given. A record whose options are unusable is sent as stored."""
        try:
            options = self.options
        except msgspec.ValidationError:
            return self
        return msgspec.structs.replace(self, kwargs=resolved_run(self, options))


# what runs/stamps.py puts in a run's stored configurable: not part of the context it was given
_STAMPED_KEYS = frozenset({"langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions", "graph_id"})


def resolved_run(run: Run, options: RunOptions) -> dict[str, Any]:
    """The reference's `kwargs` for a run: its `config` with the run's identifiers in
    `configurable` (and the context's keys, as there) and the run's metadata, its `context` (else
    the given `configurable`), `stream_mode` a list, `subgraphs` / `resumable` / `temporary` for
    `stream_subgraphs` / `stream_resumable` / a stateless run's `on_completion="delete"`, and
    `checkpoint_during` / `durability` both spelled out. What needs the assistant (its config and
    context merged in) is left out: docs/differences.md, D7."""
    config = dict(options.config or {})
    given = config.get("configurable")
    given = dict(given) if isinstance(given, dict) else {}
    configurable = {**given, **(options.context or {})}
    configurable.update(options.start_checkpoint())
    configurable.update(
        run_id=run.run_id, thread_id=run.thread_id, graph_id=run.metadata.get("graph_id") or given.get("graph_id"),
        assistant_id=run.assistant_id, __after_seconds__=options.after_seconds or 0,
        user_id=given.get("user_id") or given.get("langgraph_auth_user_id") or "",
    )
    metadata = config.get("metadata")
    metadata = {**(metadata if isinstance(metadata, dict) else {}), **run.metadata}
    config.update(configurable=configurable, metadata=metadata)
    # the context the graph gets: the given configurable without what the server stamped there
    given_context = {k: v for k, v in given.items() if k not in _STAMPED_KEYS}
    modes = options.stream_mode
    checkpoint_during = True if options.checkpoint_during is None else options.checkpoint_during
    command = options.command
    return {
        "input": options.input,
        "command": {k: v for k, v in msgspec.structs.asdict(command).items() if v is not None} if command else None,
        "config": config,
        "context": options.context if options.context is not None else given_context,
        "stream_mode": [modes] if isinstance(modes, str) else list(modes),
        "interrupt_before": options.interrupt_before,
        "interrupt_after": options.interrupt_after,
        "webhook": options.webhook,
        "feedback_keys": options.feedback_keys,
        "temporary": options.on_completion == "delete",
        "subgraphs": options.stream_subgraphs,
        "resumable": options.stream_resumable,
        "checkpoint_during": checkpoint_during,
        "durability": options.durability or ("async" if checkpoint_during else "exit"),
    }


def on_the_wire(value: Any) -> Any:
    """A run, or a list of runs, as sent; anything else as it is."""
    if isinstance(value, Run):
        return value.on_the_wire()
    if isinstance(value, list) and value and isinstance(value[0], Run):
        return [run.on_the_wire() for run in value]
    return value


class RunOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How a run ended, as its driver saw it; the thread actor turns it into statuses."""

    status: RunStatus
    thread_status: ThreadStatus
    values: Any = None
    interrupts: dict[str, Any] = msgspec.field(default_factory=dict)
    error: dict[str, str] | None = None


class Cron(msgspec.Struct, kw_only=True):
    """A schedule that creates runs: on its thread (`thread_id`), or each time on a new thread."""

    cron_id: str
    assistant_id: str
    thread_id: str | None = None
    schedule: str
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool = True
    on_run_completed: OnCompletion | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    """The run options each firing uses (input, config, context, multitask_strategy, ...)."""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    user_id: str | None = None
    next_run_date: datetime | None = None
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)
