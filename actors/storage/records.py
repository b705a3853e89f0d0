"""The one backend primitive every storage is written over: a table of msgspec-encoded records.

A record is `(kind, key) -> data` plus two indexed columns, `parent` (e.g. a run's thread id) and
`status`, and an insertion sequence (`seq`) that gives list order. A backend (memory, SQLite,
PostgreSQL) implements only `RecordTable`; the `Storage` methods are written once, in
`RecordStorage`, over it. A new record kind is one `Kind(...)` line and a few methods there, and it
works - and is tested by tests/test_storage.py - on every backend at once. See docs/storage.md.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ..kernel import serde

T = TypeVar("T")

Update = Callable[[bytes], "tuple[bytes, str | None, str | None]"]
"""Given the stored data, return the new (data, parent, status)."""

Write = tuple[str, tuple[Any, ...]]
"""One write of a `RecordTable.batch`: a write method's name (`insert`, `upsert`, `update`,
`delete`) and its arguments, e.g. `("upsert", (kind, key, data, parent, status))`."""

WRITES = ("insert", "upsert", "update", "delete")


class RecordTable(Protocol):
    """The backend primitive. `data` is JSON bytes; `parent`/`status` are indexed; every method is
    atomic on its own and safe to call from any thread."""

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        """Insert a new record; False (and no change) if `(kind, key)` exists."""
        ...

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        """Insert or replace; a replaced record keeps its place (`seq`) in list order."""
        ...

    def get(self, kind: str, key: str) -> bytes | None: ...

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        """Read-modify-write in one transaction; None if the record does not exist."""
        ...

    def delete(self, kind: str, key: str) -> bool: ...

    def delete_children(self, kind: str, parent: str) -> int: ...

    def batch(self, writes: Sequence[Write]) -> list[Any]:
        """Several writes in one transaction - all or none - and one commit (one wait for it, where
        the backend's commit is what a caller waits for); each write's result, in order."""
        ...

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        """Records of a kind, filtered on the indexed columns, in insertion order (or reversed)."""
        ...

    def close(self) -> None: ...


_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def scan_query(
    kind: str, parent: str | None, status: str | None, newest_first: bool, placeholder: str
) -> tuple[str, list[str]]:
    """The SELECT behind `RecordTable.scan` for the SQL backends (`?` for SQLite, `%s` for psycopg)."""
    sql, args = f"SELECT data FROM records WHERE kind = {placeholder}", [kind]
    if parent is not None:
        sql += f" AND parent = {placeholder}"
        args.append(parent)
    if status is not None:
        sql += f" AND status = {placeholder}"
        args.append(status)
    sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
    return sql, args


def encode(record: Any) -> bytes:
    return serde.dumps(record)


def decode(data: bytes, type_: type[T]) -> T:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    return decoder.decode(data)


class Kind(Generic[T]):
    """How one record type maps onto the table: its name, struct type, key and indexed columns."""

    def __init__(
        self,
        name: str,
        type_: type[T],
        key: Callable[[T], str],
        parent: Callable[[T], str | None] = lambda _r: None,
        status: Callable[[T], str | None] = lambda _r: None,
    ) -> None:
        self.name, self.type, self.key, self.parent, self.status = name, type_, key, parent, status

    def columns(self, record: T) -> tuple[str, bytes, str | None, str | None]:
        return self.key(record), encode(record), self.parent(record), self.status(record)


class Records(Generic[T]):
    """Typed access to one kind in a table: what `RecordStorage` methods are written with."""

    def __init__(self, table: RecordTable, kind: Kind[T]) -> None:
        self.table, self.kind = table, kind

    def insert(self, record: T) -> bool:
        return self.table.insert(self.kind.name, *self.kind.columns(record))

    def put(self, record: T) -> None:
        self.table.upsert(self.kind.name, *self.kind.columns(record))

    def get(self, key: str) -> T | None:
        data = self.table.get(self.kind.name, key)
        return None if data is None else decode(data, self.kind.type)

    def update(self, key: str, **changes: Any) -> T | None:
        """Replace fields (msgspec.structs.replace) atomically; None if the record is gone."""
        _op, args = self.update_write(key, **changes)
        return self.updated(self.table.update(*args))

    def put_write(self, record: T) -> Write:
        """`put` as one write of a `RecordTable.batch`."""
        return "upsert", (self.kind.name, *self.kind.columns(record))

    def update_write(self, key: str, **changes: Any) -> Write:
        """`update` as one write of a `RecordTable.batch` (its result: `updated(result)`)."""

        def change(data: bytes) -> tuple[bytes, str | None, str | None]:
            record = msgspec.structs.replace(decode(data, self.kind.type), **changes)  # type: ignore[type-var]
            _key, new, parent, status = self.kind.columns(record)
            return new, parent, status

        return "update", (self.kind.name, key, change)

    def updated(self, data: bytes | None) -> T | None:
        """The record an update wrote (None: it was gone)."""
        return None if data is None else decode(data, self.kind.type)

    def delete(self, key: str) -> bool:
        return self.table.delete(self.kind.name, key)

    def delete_children(self, parent: str) -> int:
        return self.table.delete_children(self.kind.name, parent)

    def scan(self, *, parent: str | None = None, status: str | None = None, newest_first: bool = False) -> list[T]:
        rows = self.table.scan(self.kind.name, parent=parent, status=status, newest_first=newest_first)
        return [decode(data, self.kind.type) for data in rows]


class CachedRecords(Records[T]):
    """`Records` that remembers what it read - for a kind read on every run and rarely written
    (assistants: a run's create reads its assistant up to four times) - on a backend where this
    process is the only writer (SQLite holds its data directory; PostgreSQL outside cluster mode
    holds the schema lock). Every write through it forgets the key first; a read that raced with a
    write is not remembered (`_generation`), so the cache never outlives a change. A miss is
    remembered too: a run given a graph id tries it as an assistant id first."""

    def __init__(self, table: RecordTable, kind: Kind[T]) -> None:
        super().__init__(table, kind)
        self._data: dict[str, bytes | None] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def get(self, key: str) -> T | None:
        try:
            data = self._data[key]
        except KeyError:
            generation = self._generation
            data = self.table.get(self.kind.name, key)
            with self._lock:
                if generation == self._generation:
                    self._data[key] = data
        return None if data is None else decode(data, self.kind.type)

    def _changed(self) -> None:
        with self._lock:
            self._generation += 1
            self._data.clear()

    def insert(self, record: T) -> bool:
        try:
            return super().insert(record)
        finally:
            self._changed()

    def put(self, record: T) -> None:
        try:
            super().put(record)
        finally:
            self._changed()

    def update(self, key: str, **changes: Any) -> T | None:
        try:
            _op, args = Records.update_write(self, key, **changes)
            return self.updated(self.table.update(*args))
        finally:
            self._changed()

    def put_write(self, record: T) -> Write:
        raise TypeError(f"{self.kind.name} records are cached: write them with put, not in a batch")

    def update_write(self, key: str, **changes: Any) -> Write:
        raise TypeError(f"{self.kind.name} records are cached: write them with update, not in a batch")

    def delete(self, key: str) -> bool:
        try:
            return super().delete(key)
        finally:
            self._changed()

    def delete_children(self, parent: str) -> int:
        try:
            return super().delete_children(parent)
        finally:
            self._changed()


class RecentRecords(Records[T]):
    """`Records` that remembers the last records this process wrote - for runs, which a client
    reads back right after (its join, its stream, a status poll) - on a backend where this process
    is the only writer (as `CachedRecords`). A record is remembered once its write has committed,
    as written; reads never fill it (so no read can put back something older); a delete, or a
    write that failed (its outcome unknown), forgets. At most `size` records (least recent out)."""

    def __init__(self, table: RecordTable, kind: Kind[T], size: int = 4096) -> None:
        super().__init__(table, kind)
        self._size = size
        self._recent: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        data = self._recent.get(key)
        if data is None:
            return super().get(key)
        return decode(data, self.kind.type)

    def written(self, record: T) -> None:
        """`record` was committed (a batch's put_write): remember it."""
        self._remember(self.kind.key(record), encode(record))

    def forget(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._recent.pop(key, None)

    def _remember(self, key: str, data: bytes) -> None:
        with self._lock:
            self._recent[key] = data
            self._recent.move_to_end(key)
            while len(self._recent) > self._size:
                self._recent.popitem(last=False)

    def insert(self, record: T) -> bool:
        key, data, parent, status = self.kind.columns(record)
        self.forget(key)
        inserted = self.table.insert(self.kind.name, key, data, parent, status)
        if inserted:
            self._remember(key, data)
        return inserted

    def put(self, record: T) -> None:
        key, data, parent, status = self.kind.columns(record)
        self.forget(key)
        self.table.upsert(self.kind.name, key, data, parent, status)
        self._remember(key, data)

    def update(self, key: str, **changes: Any) -> T | None:
        self.forget(key)
        _op, args = self.update_write(key, **changes)
        data = self.table.update(*args)
        if data is not None:
            self._remember(key, data)
        return self.updated(data)

    def delete(self, key: str) -> bool:
        self.forget(key)
        return super().delete(key)

    def delete_children(self, parent: str) -> int:
        with self._lock:
            self._recent.clear()  # which of them are the parent's is not known here; it is rare
        return super().delete_children(parent)
