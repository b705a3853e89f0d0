"""SQLite storage, the embedded default: records in `<data_dir>/switchboard.db` (stdlib sqlite3,
WAL), thread state in `GroupCommitSqliteSaver` (`checkpoints.db`: LangGraph's `SqliteSaver` on a
writer thread that groups commits, sqlite_checkpointer.py) and the store in `AsyncSqliteStore`
(`store.db`), created on the graph loop it is bound to."""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from langgraph.store.sqlite.aio import AsyncSqliteStore

from ..kernel.runtime import GraphLoop
from . import migrations
from .base import StorageUnavailable
from .health import GuardedTable, StorageHealth, ping_by_writing
from .record_storage import RecordStorage
from .records import Update, Write, scan_query
from .group_commit import Call, GroupCommitWriter
from .sqlite_checkpointer import GroupCommitSqliteSaver, run_batch

RECORDS_FILE = "switchboard.db"
CHECKPOINTS_FILE = "checkpoints.db"
STORE_FILE = "store.db"
LOCK_FILE = "switchboard.lock"
BUSY_TIMEOUT = 5.0
"""Seconds a call waits for a lock held by another connection before "database is locked"."""


class DataDirInUse(StorageUnavailable):
    """Another switchboard process holds the data directory."""


def _rollback(db: sqlite3.Connection) -> None:
    """Undo a failed transaction - unless SQLite already did: after some errors (a full disk, I/O)
    it rolls the transaction back itself, and a ROLLBACK then fails ("no transaction is active"),
    which would hide the error that matters (a full disk is a 503, docs/storage.md "Faults")."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _lock_data_dir(data_dir: Path) -> int:
    """An exclusive lock on the directory for this process's lifetime (the OS drops it when the
    process dies, even by SIGKILL): two servers on one SQLite data dir would break thread ownership."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirInUse(f"data directory {data_dir} is in use by another switchboard process") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


class SqliteTable:
    """`RecordTable`: writes on one sqlite3 connection behind a lock (or, when it is taken, through a
    group-commit writer on the same connection, group_commit.py); reads on a few reader connections.

    WAL with `synchronous=NORMAL`: a commit survives the process being killed (the WAL is in the OS
    page cache); a power loss may lose the last commits. Each call is one short transaction.
    """

    def __init__(self, path: str | Path, readers: int = 4) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._db = self._connect()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._writer = GroupCommitWriter("records-writer", self._run_batch)
        # WAL lets readers run beside the writer: a long scan (an HTTP search) never holds up a
        # thread actor's write, and reads do not queue behind writes. A SimpleQueue (C, no
        # Condition) as the pool: a LifoQueue's locking cost more than the read itself under load.
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        for _ in range(readers):
            reader = self._connect()
            self._all_readers.append(reader)
            self._readers.put(reader)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        reader = self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put(reader)

    def _migrate(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(migrations.MIGRATIONS_TABLE["sqlite"])
                applied = {row[0] for row in self._db.execute("SELECT version FROM switchboard_migrations")}
                for migration in migrations.pending(applied):
                    for statement in migration.statements("sqlite"):
                        self._db.execute(statement)
                    self._db.execute(
                        "INSERT INTO switchboard_migrations (version, description) VALUES (?, ?)",
                        (migration.version, migration.description),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                _rollback(self._db)
                raise

    def schema_version(self) -> int:
        with self._reader() as reader:
            return reader.execute("SELECT max(version) FROM switchboard_migrations").fetchone()[0] or 0

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        return self._write(_insert, kind, key, data, parent, status, single_statement=True)

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        self._write(_upsert, kind, key, data, parent, status, single_statement=True)

    def get(self, kind: str, key: str) -> bytes | None:
        with self._reader() as reader:
            row = reader.execute("SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else row[0]

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        return self.batch([("update", (kind, key, change))])[0]

    def delete(self, kind: str, key: str) -> bool:
        return self._write(_delete, kind, key, single_statement=True)

    def delete_children(self, kind: str, parent: str) -> int:
        return self._write(_delete_children, kind, parent, single_statement=True)

    def batch(self, writes: Sequence[Write]) -> list[Any]:
        if 0 < len(writes) <= 100 and all(op == "upsert" for op, _args in writes):
            # A run's start and end are upserts only: one multi-row statement, atomic on its own,
            # instead of BEGIN, one statement each and COMMIT - each statement hands the GIL away
            # and, under load, waits to get it back (a run's start took 10 ms p50 that way).
            self._write(_upsert_rows, [args for _op, args in writes], single_statement=True)
            return [None] * len(writes)
        return self._write(_batch, writes)

    def _write(self, fn: Callable[..., Any], *args: Any, single_statement: bool = False) -> Any:
        """`fn(db, *args)` in a transaction, committed when this returns. Uncontended, in the
        caller's thread at once. If another write holds the connection, it goes to the group-commit
        writer, which runs everything queued meanwhile in one transaction once it gets the
        connection: under load, a lock handed from thread to thread made each holder wait for the
        GIL while holding it (p50 20 ms, p90 80 ms of waiting per write in the 40-thread harness),
        where one thread running the queue takes it once per batch. `single_statement`: `fn` is one
        statement, atomic and committed by itself (autocommit), so inline it runs without BEGIN
        and COMMIT around it: two statements fewer."""
        if self._lock.acquire(blocking=False):
            try:
                if single_statement:  # atomic by itself, committed when it returns (autocommit)
                    return fn(self._db, *args)
                return self._transaction(fn, args)
            finally:
                self._lock.release()
        return self._writer.call(fn, self._db, *args)

    def _transaction(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._db, *args)
            self._db.execute("COMMIT")
            return result
        except BaseException:
            _rollback(self._db)
            raise

    def _run_batch(self, calls: list[Call]) -> None:
        """On the writer thread, holding the connection: the calls in one transaction, each in a
        transaction of its own if one fails (sqlite_checkpointer.run_batch)."""
        with self._lock:
            run_batch(self._db, calls)

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        sql, args = scan_query(kind, parent, status, newest_first, "?")
        with self._reader() as reader:
            return [row[0] for row in reader.execute(sql, args)]

    def close(self) -> None:
        self._writer.close()
        with self._lock:
            self._db.close()
            for reader in self._all_readers:
                reader.close()


# The writes, on the writer connection (alone, or inside a batch's transaction).


def _insert(db: sqlite3.Connection, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
    cur = db.execute(
        "INSERT INTO records (kind, key, parent, status, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING",
        (kind, key, parent, status, data),
    )
    return cur.rowcount == 1


def _upsert(db: sqlite3.Connection, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
    db.execute(
        "INSERT INTO records (kind, key, parent, status, data) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET parent = excluded.parent, status = excluded.status, data = excluded.data",
        (kind, key, parent, status, data),
    )


def _upsert_rows(db: sqlite3.Connection, rows: Sequence[tuple[str, str, bytes, str | None, str | None]]) -> None:
    """Upserts in one statement (in order: a key given twice ends with its last row)."""
    db.execute(
        "INSERT INTO records (kind, key, parent, status, data) VALUES "
        + ",".join(["(?, ?, ?, ?, ?)"] * len(rows))
        + " ON CONFLICT (kind, key) DO UPDATE SET parent = excluded.parent, status = excluded.status, data = excluded.data",
        [v for kind, key, data, parent, status in rows for v in (kind, key, parent, status, data)],
    )


def _update(db: sqlite3.Connection, kind: str, key: str, change: Update) -> bytes | None:
    """Inside a transaction (BEGIN IMMEDIATE: no other writer between the read and the write)."""
    row = db.execute("SELECT data FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
    if row is None:
        return None
    data, parent, status = change(row[0])
    db.execute("UPDATE records SET data = ?, parent = ?, status = ? WHERE kind = ? AND key = ?", (data, parent, status, kind, key))
    return data


def _delete(db: sqlite3.Connection, kind: str, key: str) -> bool:
    return db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key)).rowcount > 0


def _delete_children(db: sqlite3.Connection, kind: str, parent: str) -> int:
    return db.execute("DELETE FROM records WHERE kind = ? AND parent = ?", (kind, parent)).rowcount


def _batch(db: sqlite3.Connection, writes: Sequence[Write]) -> list[Any]:
    return [_WRITES[op](db, *args) for op, args in writes]


_WRITES = {"insert": _insert, "upsert": _upsert, "update": _update, "delete": _delete}


class SqliteCheckpoints:
    def __init__(self, saver: GroupCommitSqliteSaver) -> None:
        self.saver = saver

    async def delete_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        await self.saver.adelete_runs(thread_id, run_ids)


async def _open_store(data_dir: Path) -> tuple[AsyncSqliteStore, list[Any]]:
    store_db = await aiosqlite.connect(str(data_dir / STORE_FILE), isolation_level=None)
    await store_db.execute("PRAGMA journal_mode=WAL")
    store = AsyncSqliteStore(store_db)
    await store.setup()
    return store, [store_db.close]


class SqliteStorage(RecordStorage):
    backend = "sqlite"

    def __init__(self, data_dir: str | Path, runtime: GraphLoop) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_data_dir(self.data_dir)
        try:
            table = SqliteTable(self.data_dir / RECORDS_FILE)
        except BaseException:
            os.close(self._lock_fd)
            raise
        try:
            saver = GroupCommitSqliteSaver(str(self.data_dir / CHECKPOINTS_FILE))
        except BaseException:
            table.close()
            os.close(self._lock_fd)
            raise
        try:
            store, closers = runtime.call(_open_store(self.data_dir))
        except BaseException:
            saver.close()
            table.close()
            os.close(self._lock_fd)
            raise
        # Reads keep working on a full or read-only disk: only writes are refused while it is down.
        health = StorageHealth(ping_by_writing(table), gate_reads=False)
        super().__init__(GuardedTable(table, health), saver, store, SqliteCheckpoints(saver), sole_writer=True)  # the data dir is locked
        self.async_closers.extend(closers)

    def close(self) -> None:
        super().close()
        self.checkpointer.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
