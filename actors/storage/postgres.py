"""PostgreSQL storage for production: records read through a psycopg 3 connection pool, thread state
in LangGraph's `AsyncPostgresSaver` and the store in `AsyncPostgresStore`, both on an async pool
created on the graph loop; record and checkpoint writes go through one group-commit writer
(postgres_writer.py). Migrations are applied at start-up under an advisory lock, so several servers
starting on one database do not race."""

from __future__ import annotations

import asyncio
import time
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from ..kernel.runtime import GraphLoop
from . import migrations
from .base import StorageUnavailable
from .health import GuardedTable, LockLost, StorageHealth, ping_by_writing
from .postgres_writer import GroupCommitPostgresSaver, PostgresWriter
from .record_storage import RecordStorage
from .records import Update, Write, scan_query

log = logging.getLogger("switchboard.storage")

MIGRATION_LOCK = 0x5377_6974  # pg_advisory_xact_lock key: "Swit"
SETUP_LOCK = 0x5377_4C47  # pg_advisory_lock key (with the schema): "SwLG", LangGraph's checkpointer/store setup
CONNECT_TIMEOUT = 3
"""Seconds a new connection may take (libpq `connect_timeout`)."""
CHECKOUT_TIMEOUT = 3.0
"""Seconds a call waits for a pooled connection before it fails (psycopg_pool's default is 30)."""
LOCK_CHECK_INTERVAL = 1.0
"""Seconds between checks that this server still holds its schema lock."""


class PostgresTable:
    """`RecordTable` on PostgreSQL: reads on a psycopg connection pool; writes through the
    group-commit writer (postgres_writer.py), each in a transaction it may share with other callers'.

    Timeouts are short on purpose: while the database is away a call must fail within seconds
    (and the storage go down, see health.py), not hold its caller for the pool's default 30 s.
    Connections are not checked on checkout (a round trip per call): after a restart the first
    call finds a dead one and fails at once, the storage goes down, and its prober drops every
    dead connection (`drop_broken`) before it tries the database again."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout: float = 10,
        checkout_timeout: float = CHECKOUT_TIMEOUT,
        configure: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=checkout_timeout,
            configure=configure,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self.pool.close()
            raise StorageUnavailable(f"cannot connect to PostgreSQL within {connect_timeout:g}s: {_redact(url)}") from None
        try:
            self._migrate()
            self.writer = PostgresWriter(url, connect_timeout=connect_timeout)
        except BaseException:
            self.pool.close()
            raise

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(migrations.MIGRATIONS_TABLE["postgres"])
            applied = {row[0] for row in conn.execute("SELECT version FROM switchboard_migrations")}
            for migration in migrations.pending(applied):
                for statement in migration.statements("postgres"):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO switchboard_migrations (version, description) VALUES (%s, %s)",
                    (migration.version, migration.description),
                )

    def drop_broken(self) -> None:
        """Discard pooled connections the server has closed (after a restart every idle one is),
        so the next calls do not each find a dead one."""
        self.pool.check()

    def schema_version(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute("SELECT max(version) FROM switchboard_migrations").fetchone()[0] or 0

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        return self.writer.call(_insert, kind, key, data, parent, status)

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        self.writer.call(_upsert, kind, key, data, parent, status)

    def get(self, kind: str, key: str) -> bytes | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT data FROM records WHERE kind = %s AND key = %s", (kind, key)).fetchone()
        return None if row is None else bytes(row[0])

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        return self.writer.call(_update, kind, key, change)

    def delete(self, kind: str, key: str) -> bool:
        return self.writer.call(_delete, kind, key)

    def delete_children(self, kind: str, parent: str) -> int:
        return self.writer.call(_delete_children, kind, parent)

    def batch(self, writes: Sequence[Write]) -> list[Any]:
        return self.writer.call(_batch, writes)

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        sql, args = scan_query(kind, parent, status, newest_first, "%s")
        with self.pool.connection() as conn:
            return [bytes(row[0]) for row in conn.execute(sql, args)]

    def close(self) -> None:
        self.writer.close()
        self.pool.close()


# The writes, run by the writer inside its transaction on its connection.


def _insert(conn: psycopg.Connection[Any], kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
    cur = conn.execute(
        "INSERT INTO records (kind, key, parent, status, data) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (kind, key) DO NOTHING RETURNING 1",  # a result, not rowcount: the writer pipelines
        (kind, key, parent, status, data),
    )
    return cur.fetchone() is not None


def _upsert(conn: psycopg.Connection[Any], kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
    conn.execute(
        "INSERT INTO records (kind, key, parent, status, data) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (kind, key) DO UPDATE SET parent = excluded.parent, status = excluded.status, "
        "data = excluded.data",
        (kind, key, parent, status, data),
    )


def _update(conn: psycopg.Connection[Any], kind: str, key: str, change: Update) -> bytes | None:
    row = conn.execute("SELECT data FROM records WHERE kind = %s AND key = %s FOR UPDATE", (kind, key)).fetchone()
    if row is None:
        return None
    data, parent, status = change(bytes(row[0]))
    conn.execute(
        "UPDATE records SET data = %s, parent = %s, status = %s WHERE kind = %s AND key = %s",
        (data, parent, status, kind, key),
    )
    return data


def _delete(conn: psycopg.Connection[Any], kind: str, key: str) -> bool:
    return conn.execute("DELETE FROM records WHERE kind = %s AND key = %s RETURNING 1", (kind, key)).fetchone() is not None


def _delete_children(conn: psycopg.Connection[Any], kind: str, parent: str) -> int:
    return len(conn.execute("DELETE FROM records WHERE kind = %s AND parent = %s RETURNING 1", (kind, parent)).fetchall())


_WRITES = {"insert": _insert, "upsert": _upsert, "update": _update, "delete": _delete}


def _batch(conn: psycopg.Connection[Any], writes: Sequence[Write]) -> list[Any]:
    """One writer call: the writes share its transaction, and the caller waits for one commit."""
    return [_WRITES[op](conn, *args) for op, args in writes]


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        info = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - a malformed URL: say nothing about it
        return "(the given database URL)"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())


class PostgresCheckpoints:
    """A rollback's deletion of a run's checkpoints, through the writer: after every checkpoint
    write queued before it (a run's input checkpoint is acknowledged once queued:
    group_commit.InputCheckpoints), and fenced by the thread's epoch in cluster mode."""

    def __init__(self, writer: PostgresWriter) -> None:
        self.writer = writer

    async def delete_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        await self.writer.writer.acall(self.writer.fenced(_delete_for_runs, thread_id), self.writer, thread_id, list(run_ids))


def _delete_for_runs(writer: PostgresWriter, thread_id: str, run_ids: list[str]) -> None:
    where = "thread_id = %s AND metadata->>'run_id' = ANY(%s)"
    writer.conn.execute(
        "DELETE FROM checkpoint_writes WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
        f"(SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints WHERE {where})",
        (thread_id, run_ids),
    )
    writer.conn.execute(f"DELETE FROM checkpoints WHERE {where}", (thread_id, run_ids))


async def _open_async(
    url: str, max_size: int, table: PostgresTable, ensure_lock: Callable[[], None], writer: PostgresWriter
) -> tuple[AsyncPostgresSaver, AsyncPostgresStore, AsyncConnectionPool]:
    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await asyncio.to_thread(ensure_lock)  # checkpoint reads/writes need the lock as much as records do

    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        timeout=CHECKOUT_TIMEOUT,
        configure=configure,
        check=AsyncConnectionPool.check_connection,  # a run's checkpoint write never gets a dead one
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT},
    )
    await pool.open(wait=True, timeout=30)
    try:
        saver = GroupCommitPostgresSaver(pool, writer, table.pool, readers=max_size)
        store = AsyncPostgresStore(pool)  # type: ignore[arg-type]
        # LangGraph's own migrations, one process at a time: cluster processes starting together on a
        # fresh database would otherwise race on them (a UniqueViolation on checkpoint_migrations).
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as lock:
            # Polled, never waited for inside the database: a session blocked on the lock holds a
            # snapshot, which the holder's CREATE INDEX CONCURRENTLY would wait for (a deadlock).
            while not (await (await lock.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (SETUP_LOCK,)
            )).fetchone())[0]:
                await asyncio.sleep(0.05)
            await saver.setup()
            await store.setup()
    except BaseException:
        await pool.close()
        raise
    return saver, store, pool


class SchemaLock:
    """A session advisory lock on the schema, held by one connection for the server's lifetime (the
    server dies -> the connection drops -> the lock is released): start-up recovery treats every
    `running` run as orphaned, so two servers must never share one database schema.

    A PostgreSQL restart drops the holding session, and with it the lock. So `ensure()` is called
    before any new pooled connection is used (the pools' `configure`), by the health prober and
    every `LOCK_CHECK_INTERVAL` by a watcher thread: it re-takes a lost lock, or raises `LockLost`
    if another server took it meanwhile - then the storage stays down and nothing is written."""

    def __init__(self, url: str, wait: float = 2.0) -> None:
        self.url = url
        self._mutex = threading.Lock()
        self._closed = threading.Event()
        self.lost: LockLost | None = None
        self.retakes = 0
        self.conn = self._take(wait)
        self.on_retake: Callable[[], None] = lambda: None
        """Called after the lock was taken again: the session that held it had been lost."""

    def _take(self, wait: float) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise StorageUnavailable(f"cannot connect to PostgreSQL: {_redact(self.url)}: {exc}") from None
        # A predecessor killed a moment ago may still hold it until its backend notices the dropped
        # connection: wait a little before calling the database taken.
        deadline = time.monotonic() + wait
        while True:
            held = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (MIGRATION_LOCK,)
            ).fetchone()
            if held and held[0]:
                return conn
            if time.monotonic() >= deadline:
                conn.close()
                raise StorageUnavailable(f"the database is in use by another switchboard process: {_redact(self.url)}")
            time.sleep(0.1)

    def _still_held(self) -> bool:
        try:
            row = self.conn.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() "
                "AND classid = %s AND objid = (hashtext(current_schema())::bigint & 4294967295)::oid "
                "AND objsubid = 2",
                (MIGRATION_LOCK,),
            ).fetchone()
        except psycopg.OperationalError:
            return False  # the session is gone (a restart, a terminated backend): so is the lock
        return row is not None

    def ensure(self) -> None:
        """Return if this server holds the lock (re-taking it if its session was lost); raise
        `LockLost` if another process holds it, a transient error if the database is away."""
        with self._mutex:
            if self.lost is not None:
                raise self.lost
            if self._still_held():
                return
            self.conn.close()
            try:
                self.conn = self._take(wait=0)
            except StorageUnavailable as exc:
                if "in use by another" not in str(exc):
                    raise psycopg.OperationalError(str(exc)) from None  # away: try again later
                self.lost = LockLost(
                    "another switchboard process took this database's lock while the connection was "
                    "lost: this server no longer writes to it (restart it once the other one stops)"
                )
                log.error("%s", self.lost)
                raise self.lost from None
            self.retakes += 1
            log.warning("re-took the database lock after its session was lost")
        self.on_retake()

    def watch(self, on_lost: Callable[[BaseException], None]) -> None:
        """Check the lock every `LOCK_CHECK_INTERVAL` on a daemon thread; report failures."""

        def loop() -> None:
            while not self._closed.wait(LOCK_CHECK_INTERVAL):
                try:
                    self.ensure()
                except (LockLost, psycopg.OperationalError) as exc:
                    on_lost(exc)

        threading.Thread(target=loop, name="switchboard-schema-lock", daemon=True).start()

    def release(self) -> None:
        """Unlock before closing: closing alone releases the lock only once the server has processed
        the disconnect, which a restart in the same breath could race."""
        self._closed.set()
        with self._mutex:
            try:
                if self.lost is None:
                    self.conn.execute("SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (MIGRATION_LOCK,))
            except psycopg.OperationalError:
                pass  # the session is gone: so is the lock
            finally:
                self.conn.close()


class PostgresStorage(RecordStorage):
    backend = "postgres"

    def __init__(self, url: str, runtime: GraphLoop, *, pool_size: int = 8, exclusive: bool = True) -> None:
        # `exclusive=False` is cluster mode: several processes share the schema, each writing only the
        # threads it owns (actors/cluster/), so there is no one-server lock to take.
        self._lock = SchemaLock(url) if exclusive else None
        ensure = self._lock.ensure if self._lock is not None else _nothing
        try:
            table = PostgresTable(url, max_size=pool_size, configure=lambda _conn: ensure())
        except BaseException:
            self._release_lock()
            raise
        try:
            # Checkpoint writes get a writer (connection, thread) of their own: under load a batch
            # takes ~8 ms whatever its size (the database's turn on a busy machine), and a run's
            # record writes (its accept, start and end) no longer wait behind checkpoint batches,
            # nor they behind them. Order between the two needs nothing shared: every record write
            # that depends on a checkpoint write is made after that write returned (a run's end
            # after its last checkpoint and after reading its state, which waits for a queued
            # input checkpoint), and a rollback's deletion goes through the checkpoint writer.
            # In cluster mode both stay on one writer: it is fenced, its idle transactions limited
            # and its backend watched (actors/cluster/node.py), one connection per process.
            checkpoint_writer = PostgresWriter(url, name="postgres-checkpoint-writer") if exclusive else table.writer
        except BaseException:
            table.close()
            self._release_lock()
            raise
        try:
            saver, store, pool = runtime.call(_open_async(url, pool_size, table, ensure, checkpoint_writer))
        except BaseException:
            if checkpoint_writer is not table.writer:
                checkpoint_writer.close()
            table.close()
            self._release_lock()
            raise
        self.checkpoint_writer = checkpoint_writer

        if self._lock is not None:
            self._lock.on_retake = table.drop_broken
        table.writer.on_reconnect = ensure  # no write on a new connection without the lock
        checkpoint_writer.on_reconnect = ensure
        self.writer = table.writer

        def ping() -> None:
            table.drop_broken()
            ensure()
            ping_by_writing(table)()

        health = StorageHealth(ping)
        super().__init__(GuardedTable(table, health), saver, store, PostgresCheckpoints(checkpoint_writer), sole_writer=exclusive)
        self.async_closers.extend([pool.close, saver.close_readers])
        if self._lock is not None:
            self._lock.watch(health.failed)
        self.url = url

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def close(self) -> None:
        super().close()
        if self.checkpoint_writer is not self.writer:
            self.checkpoint_writer.close()
        self._release_lock()


def _nothing() -> None:
    pass
