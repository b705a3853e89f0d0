"""Request bodies, as msgspec types: decoding validates them and names the failing field.

Field names follow the reference server's OpenAPI document. Unknown fields are ignored, as there.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Strategy = Literal["reject", "interrupt", "rollback", "enqueue"]
StreamMode = Literal[
    "values", "updates", "custom", "debug", "tasks", "checkpoints", "messages", "messages-tuple", "events"
]


class RunCommand(msgspec.Struct, omit_defaults=True):
    resume: Any = None
    update: Any = None
    goto: Any = None


class RunCreate(msgspec.Struct, kw_only=True, omit_defaults=True):
    assistant_id: str
    input: dict[str, Any] | list[Any] | str | int | float | bool | None = None
    command: RunCommand | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: Strategy | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    after_seconds: float | None = msgspec.field(default=None)
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None
    feedback_keys: list[str] | None = None

    def options(self) -> dict[str, Any]:
        """The run options as keyword arguments for `Operations.prepare_run`."""
        options = {f: getattr(self, f) for f in self.__struct_fields__ if f != "assistant_id"}
        if self.command is not None:
            options["command"] = msgspec.structs.asdict(self.command)
        if self.after_seconds is not None and self.after_seconds < 0:
            from actors.errors import InvalidInput

            raise InvalidInput("after_seconds: must be >= 0")
        return {k: v for k, v in options.items() if v is not None}


class ThreadCreate(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ThreadSearch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = 10
    offset: int = 0


class AssistantSearch(msgspec.Struct, kw_only=True):
    graph_id: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
