"""Copy everything one storage holds into another, empty one: for users who outgrow SQLite and move
to PostgreSQL (`switchboard migrate`), or back.

What is copied: every record (assistants and their versions, threads, runs and their outputs,
crons) in its list order; every checkpoint of every thread, oldest first, with its pending writes,
through the LangGraph checkpointers' own API (so each backend stores them its own way); every item
of the store. Both storages must be closed to servers meanwhile (each backend takes a lock on open).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec

from .record_storage import RecordStorage
from .records import Records, decode

RECORD_KINDS = ("assistants", "assistant_versions", "threads", "runs", "outputs", "crons")
STORE_PAGE = 500


class CopyReport(msgspec.Struct, kw_only=True):
    records: dict[str, int] = msgspec.field(default_factory=dict)
    checkpoints: int = 0
    writes: int = 0
    store_items: int = 0


class NotEmpty(RuntimeError):
    """The destination already holds records: copying into it would mix two histories."""


def check_empty(storage: RecordStorage) -> None:
    for name in RECORD_KINDS:
        records: Records[Any] = getattr(storage, name)
        if storage.table.scan(records.kind.name):
            raise NotEmpty(f"the destination already has {name}: copy into an empty database")


async def copy_storage(source: RecordStorage, destination: RecordStorage) -> CopyReport:
    """Run on the loop both storages' async parts live on (their checkpointers and stores)."""
    check_empty(destination)
    report = CopyReport()
    for name in RECORD_KINDS:
        src: Records[Any] = getattr(source, name)
        dst: Records[Any] = getattr(destination, name)
        rows = source.table.scan(src.kind.name)
        for data in rows:
            dst.put(decode(data, src.kind.type))
        report.records[name] = len(rows)
    for thread in source.list_threads():
        await _copy_checkpoints(source.checkpointer, destination.checkpointer, thread.thread_id, report)
    report.store_items = await _copy_store(source.store, destination.store)
    return report


async def _copy_checkpoints(source: Any, destination: Any, thread_id: str, report: CopyReport) -> None:
    saved = [t async for t in source.alist({"configurable": {"thread_id": thread_id}})]
    for saved_tuple in reversed(saved):  # oldest first: each names its parent
        configurable = saved_tuple.config["configurable"]
        parent = saved_tuple.parent_config or {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": configurable.get("checkpoint_ns", "")}
        }
        checkpoint = saved_tuple.checkpoint
        config = await destination.aput(parent, checkpoint, saved_tuple.metadata, checkpoint["channel_versions"])
        report.checkpoints += 1
        by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        for task_id, channel, value in saved_tuple.pending_writes or ():
            by_task[task_id].append((channel, value))
        for task_id, writes in by_task.items():
            await destination.aput_writes(config, writes, task_id)
            report.writes += len(writes)


async def _copy_store(source: Any, destination: Any) -> int:
    copied, offset = 0, 0
    while True:
        items = await source.asearch((), limit=STORE_PAGE, offset=offset)
        for item in items:
            await destination.aput(item.namespace, item.key, item.value, index=False)
        copied += len(items)
        if len(items) < STORE_PAGE:
            return copied
        offset += STORE_PAGE
