"""The storage boundary the actors use. One interface, three backends (memory, SQLite, PostgreSQL),
all implemented once as `RecordStorage` over a backend `RecordTable` (records.py). Records are `actors.models` structs; thread state lives in a LangGraph
checkpointer and long-term memory in a LangGraph store, both owned by the storage.

Thread actors are the only writers of a thread's runs and status; readers may call any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from ..models import Assistant, Cron, Run, RunStatus, Thread


def checkpoint_metadata(config: Any, metadata: Any) -> Any:
    """A checkpoint's metadata as the reference's checkpointer records it: the run's config
    `metadata` whole (its `thread_id` and non-scalar values too, which LangGraph's savers leave
    out; for a state update, the thread's id), under what the loop wrote. Every backend's `put`
    goes through this."""
    if not isinstance(config, dict):
        return metadata
    extra = {k: v for k, v in (config.get("metadata") or {}).items() if not k.startswith("__")}
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if thread_id is not None:
        extra.setdefault("thread_id", thread_id)
    return {**extra, **metadata}


class StorageUnavailable(RuntimeError):
    """The backend cannot be opened: data directory held by another process, database unreachable."""


class Storage(Protocol):
    checkpointer: BaseCheckpointSaver
    store: BaseStore

    # assistants
    def put_assistant(self, assistant: Assistant) -> None: ...
    def get_assistant(self, assistant_id: str) -> Assistant | None: ...
    def list_assistants(self) -> list[Assistant]: ...
    def delete_assistant(self, assistant_id: str) -> bool:
        """Delete the assistant and all its versions."""
        ...

    def put_assistant_version(self, assistant: Assistant) -> None:
        """Record `assistant` as version `assistant.version` of its assistant (insert or replace)."""
        ...

    def list_assistant_versions(self, assistant_id: str) -> list[Assistant]: ...

    # threads
    def create_thread(self, thread: Thread) -> bool:
        """Insert; False if the id exists already."""
        ...

    def get_thread(self, thread_id: str) -> Thread | None: ...
    def update_thread(self, thread_id: str, **changes: Any) -> Thread | None: ...
    def delete_thread(self, thread_id: str) -> bool: ...
    def list_threads(self, status: str | None = None) -> list[Thread]: ...

    # runs
    def put_run(self, run: Run) -> None: ...
    def get_run(self, run_id: str) -> Run | None: ...
    def update_run(self, run_id: str, **changes: Any) -> Run | None: ...
    def delete_run(self, run_id: str) -> bool: ...
    def list_runs(self, thread_id: str, status: RunStatus | None = None) -> list[Run]:
        """Newest first."""
        ...

    def runs_with_status(self, status: RunStatus) -> list[Run]:
        """Every thread's runs with this status, oldest first (start-up recovery, shutdown)."""
        ...

    def set_run_output(self, run_id: str, output: Any) -> None: ...
    def get_run_output(self, run_id: str) -> Any: ...

    # crons (written by the cron scheduler only)
    def put_cron(self, cron: Cron) -> None: ...
    def get_cron(self, cron_id: str) -> Cron | None: ...
    def delete_cron(self, cron_id: str) -> bool: ...
    def list_crons(self) -> list[Cron]: ...

    # checkpoints (async: checkpointers live on the graph loop)
    async def delete_checkpoints_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None: ...
    async def delete_thread_checkpoints(self, thread_id: str) -> None: ...

    async def aclose(self) -> None:
        """Close what lives on the graph loop (run there, before the loop stops)."""
        ...

    def close(self) -> None: ...
