"""Request bodies, as msgspec types: decoding validates them and names the failing field.

Field names follow the reference server's OpenAPI document. Unknown fields are ignored, as there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from actors.models import RunOptions, Strategy, ThreadStatus


class RunCreate(RunOptions, kw_only=True, omit_defaults=True):
    """A run request: the run's options (`actors.models.RunOptions`, with their wire defaults) and
    what the run record itself holds."""

    assistant_id: str
    metadata: dict[str, Any] | None = None
    multitask_strategy: Strategy | None = None

    def options(self) -> dict[str, Any]:
        """The run options as keyword arguments for `Operations.prepare_run`."""
        options = {f: getattr(self, f) for f in self.__struct_fields__ if f not in ("assistant_id", "thread_id")}
        if self.command is not None:
            options["command"] = msgspec.structs.asdict(self.command)
        if self.after_seconds is not None and self.after_seconds < 0:
            from actors.errors import InvalidInput

            raise InvalidInput("after_seconds: must be >= 0")
        return {k: v for k, v in options.items() if v is not None}


class BatchRunCreate(RunCreate, kw_only=True, omit_defaults=True):
    """One item of `POST /runs/batch`: a run, stateless unless it names a thread."""

    thread_id: str | None = None

    def request(self) -> dict[str, Any]:
        return {**self.options(), "assistant_id": self.assistant_id, **({"thread_id": self.thread_id} if self.thread_id else {})}


class RunsCancel(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


class StateUpdate(msgspec.Struct, kw_only=True):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None


class Superstep(msgspec.Struct, kw_only=True):
    updates: list[StateUpdate]


class ThreadCreate(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    supersteps: list[Superstep] | None = None


class ThreadPatch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)



SortOrder = Literal["asc", "desc"]
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000
"""Every search and list pages with `limit` 1..1000 and `offset` 0..10^9 (docs/api.md, 'Bounds')."""
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]


class ThreadSearch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: ThreadStatus | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


class ThreadCount(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: ThreadStatus | None = None


class ThreadPrune(msgspec.Struct, kw_only=True):
    thread_ids: list[str]
    strategy: Literal["delete", "keep_latest"] = "delete"


class Checkpoint(msgspec.Struct, kw_only=True, omit_defaults=True):
    checkpoint_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_map: dict[str, Any] | None = None
    thread_id: str | None = None


class ThreadStateAt(msgspec.Struct, kw_only=True):
    checkpoint: Checkpoint
    subgraphs: bool = False


class ThreadStateUpdate(msgspec.Struct, kw_only=True):
    values: dict[str, Any] | list[Any] | None = None
    as_node: str | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None


class ThreadHistory(msgspec.Struct, kw_only=True):
    limit: Limit = 10
    before: Checkpoint | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None


AssistantSortBy = Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"]


class AssistantCreate(msgspec.Struct, kw_only=True):
    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = None
    description: str | None = None


class AssistantPatch(msgspec.Struct, kw_only=True):
    graph_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    description: str | None = None


class AssistantSearch(msgspec.Struct, kw_only=True):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: AssistantSortBy | None = None
    sort_order: SortOrder | None = None
    select: list[str] | None = None


class AssistantCount(msgspec.Struct, kw_only=True):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = None


class AssistantVersions(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0


class AssistantLatest(msgspec.Struct, kw_only=True):
    version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class ProtocolStreamRequest(msgspec.Struct, kw_only=True):
    """`POST /threads/{id}/stream/events` (protocol v2's EventStreamRequest)."""

    channels: list[Any] | None = None
    namespaces: list[list[str]] | None = None
    depth: Annotated[int, msgspec.Meta(ge=0)] | None = None
    since: Annotated[int, msgspec.Meta(ge=0)] | None = None
