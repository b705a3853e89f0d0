"""In-memory storage: a dict-backed `RecordTable`, LangGraph's `InMemorySaver` and `InMemoryStore`.
Nothing survives the process; for tests and throwaway use (`--storage memory`)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from .record_storage import RecordStorage
from .records import Update


class RollbackableMemorySaver(InMemorySaver):
    """`InMemorySaver` plus deleting what given runs wrote (rollback)."""

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
    """`RecordTable` in dicts behind one lock; dict order is insertion order (`seq`)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, dict[str, _Row]] = {}
        self._seq = itertools.count()

    def _kind(self, kind: str) -> dict[str, _Row]:
        return self._rows.setdefault(kind, {})

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        with self._lock:
            rows = self._kind(kind)
            if key in rows:
                return False
            rows[key] = _Row(next(self._seq), data, parent, status)
            return True

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        with self._lock:
            rows = self._kind(kind)
            row = rows.get(key)
            if row is None:
                rows[key] = _Row(next(self._seq), data, parent, status)
            else:
                row.data, row.parent, row.status = data, parent, status

    def get(self, kind: str, key: str) -> bytes | None:
        with self._lock:
            row = self._kind(kind).get(key)
            return None if row is None else row.data

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        with self._lock:
            row = self._kind(kind).get(key)
            if row is None:
                return None
            row.data, row.parent, row.status = change(row.data)
            return row.data

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            return self._kind(kind).pop(key, None) is not None

    def delete_children(self, kind: str, parent: str) -> int:
        with self._lock:
            rows = self._kind(kind)
            doomed = [key for key, row in rows.items() if row.parent == parent]
            for key in doomed:
                del rows[key]
            return len(doomed)

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        with self._lock:
            found = [
                row.data
                for row in self._kind(kind).values()
                if (parent is None or row.parent == parent) and (status is None or row.status == status)
            ]
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
