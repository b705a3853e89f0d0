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
    thread_id: str
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)
    state_updated_at: datetime = msgspec.field(default_factory=now)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    status: ThreadStatus = "idle"
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    values: Any = None
    interrupts: dict[str, Any] = msgspec.field(default_factory=dict)


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
    on_run_completed: Literal["delete", "keep"] | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    """The run options each firing uses (input, config, context, multitask_strategy, ...)."""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    user_id: str | None = None
    next_run_date: datetime | None = None
    created_at: datetime = msgspec.field(default_factory=now)
    updated_at: datetime = msgspec.field(default_factory=now)
