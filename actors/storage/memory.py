"""In-memory storage: a dict-backed `RecordTable`, LangGraph's `InMemorySaver` and `InMemoryStore`.
Nothing survives the process; for tests and throwaway use (`--storage memory`)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from .base import checkpoint_metadata
from .record_storage import RecordStorage
from .records import Update, Write


class RollbackableMemorySaver(InMemorySaver):
    """`InMemorySaver` plus deleting what given runs wrote (rollback)."""

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return super().put(config, checkpoint, checkpoint_metadata(config, metadata), new_versions)

    def delete_for_runs_in_thread(self, thread_id: str, run_ids: Sequence[str]) -> None:
        wanted = set(run_ids)
        namespaces = self.storage.get(thread_id, {})
        for ns, checkpoints in namespaces.items():
            doomed = []
            for checkpoint_id, (_checkpoint, metadata, _parent) in checkpoints.items():
                meta = self.serde.loads_typed(metadata)
                if meta.get("run_id") in wanted:
                    doomed.append(checkpoint_id)
            for checkpoint_id in doomed:
                del checkpoints[checkpoint_id]
                self.writes.pop((thread_id, ns, checkpoint_id), None)

    async def delete_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        self.delete_for_runs_in_thread(thread_id, run_ids)


class _Row:
    __slots__ = ("seq", "data", "parent", "status")

    def __init__(self, seq: int, data: bytes, parent: str | None, status: str | None) -> None:
        self.seq, self.data, self.parent, self.status = seq, data, parent, status


class MemoryTable:
    """`RecordTable` in dicts behind one lock; dict order is insertion order (`seq`), and an index
    by parent keeps `list_runs(thread)` proportional to the thread's runs, not all runs."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, dict[str, _Row]] = {}
        self._children: dict[tuple[str, str], dict[str, None]] = {}
        self._seq = itertools.count()

    def _kind(self, kind: str) -> dict[str, _Row]:
        return self._rows.setdefault(kind, {})

    def _link(self, kind: str, key: str, parent: str | None) -> None:
        if parent is not None:
            self._children.setdefault((kind, parent), {})[key] = None

    def _unlink(self, kind: str, key: str, parent: str | None) -> None:
        if parent is not None:
            children = self._children.get((kind, parent))
            if children is not None:
                children.pop(key, None)
                if not children:
                    del self._children[(kind, parent)]

    def _set(self, kind: str, key: str, row: _Row, data: bytes, parent: str | None, status: str | None) -> None:
        if row.parent != parent:
            self._unlink(kind, key, row.parent)
            self._link(kind, key, parent)
        row.data, row.parent, row.status = data, parent, status

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        with self._lock:
            rows = self._kind(kind)
            if key in rows:
                return False
            rows[key] = _Row(next(self._seq), data, parent, status)
            self._link(kind, key, parent)
            return True

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        with self._lock:
            row = self._kind(kind).get(key)
            if row is None:
                self.insert(kind, key, data, parent, status)
            else:
                self._set(kind, key, row, data, parent, status)

    def get(self, kind: str, key: str) -> bytes | None:
        with self._lock:
            row = self._kind(kind).get(key)
            return None if row is None else row.data

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        with self._lock:
            row = self._kind(kind).get(key)
            if row is None:
                return None
            self._set(kind, key, row, *change(row.data))
            return row.data

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            row = self._kind(kind).pop(key, None)
            if row is None:
                return False
            self._unlink(kind, key, row.parent)
            return True

    def delete_children(self, kind: str, parent: str) -> int:
        with self._lock:
            keys = self._children.pop((kind, parent), {})
            rows = self._kind(kind)
            for key in keys:
                rows.pop(key, None)
            return len(keys)

    def batch(self, writes: Sequence[Write]) -> list[Any]:
        # Under the one lock, so no reader sees half of it (nothing here survives a crash anyway).
        with self._lock:
            return [getattr(self, op)(*args) for op, args in writes]

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        with self._lock:
            rows = self._kind(kind)
            if parent is not None:
                candidates = [rows[key] for key in self._children.get((kind, parent), {})]
                candidates.sort(key=lambda row: row.seq)
            else:
                candidates = list(rows.values())
            found = [row.data for row in candidates if status is None or row.status == status]
        if newest_first:
            found.reverse()
        return found

    def close(self) -> None:
        pass


class MemoryStorage(RecordStorage):
    backend = "memory"

    def __init__(self) -> None:
        checkpointer = RollbackableMemorySaver()
        super().__init__(MemoryTable(), checkpointer, InMemoryStore(), checkpointer)
