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


class RunOptions(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How a run is to be executed: what the request gave besides its assistant, strategy and
    metadata. Stored with the run as `Run.kwargs` (the reference's field name, a plain object, so
    records of every earlier version still load) and read by attribute through `Run.options`."""

    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
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
    """The run's `RunOptions` as stored (unset ones left out)."""

    @property
    def options(self) -> RunOptions:
        """The stored options, typed; `msgspec.ValidationError` for a record no version of ours
        wrote (a hand-edited or corrupted row: the thread actor ends such a run `error`)."""
        return msgspec.convert(self.kwargs, RunOptions)


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
