"""Group commit on PostgreSQL: every write of the record table and of the checkpointer goes through one
connection on one writer thread (group_commit.py), so the writes of many runs share one transaction
and one commit - one WAL flush on the server - where each used to pay its own (~0.5-1 ms each here,
~13 per run). Reads stay on the connection pools.

Statements are sent in pipeline mode, BEGIN and COMMIT included: a batch is one round trip, plus one
per result a call reads before the end (an insert's RETURNING).
A caller still waits for the commit of the transaction holding its write: durability is unchanged.
If a batch fails (one bad call, a lost connection), it is rolled back and each call is retried alone
in its own transaction, so only the failing call fails; the connection is reopened when it broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row

from .base import checkpoint_metadata
from .group_commit import Call, GroupCommitWriter, InputCheckpoints
from .postgres_rows import HeldRows, HoldingConnection


class PostgresWriter:
    def __init__(self, url: str, *, connect_timeout: float = 10, name: str = "postgres-writer") -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        # Calls see the connection through `HoldingConnection`: their foldable INSERTs are held and
        # sent as multi-row statements before the next other statement or the COMMIT (postgres_rows.py).
        self.held = HeldRows()
        self.conn: Any = HoldingConnection(self._connect(), self.held)
        self.on_reconnect: Any = lambda: None
        """Called after the connection was opened again (postgres.py: verify the schema lock)."""
        self.fencing: Any = None
        """Cluster mode only (actors/cluster/fencing.py): fences a thread's writes by its owner's epoch."""
        self.writer = GroupCommitWriter(name, self._run_batch)

    def _connect(self) -> psycopg.Connection[Any]:
        # Autocommit: the writer opens its own transaction per batch. psycopg prepares a statement
        # once it has run a few times (prepare_threshold), so the hot statements are prepared here.
        return psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout))

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(conn, *args)` in the next group transaction; return once it has committed."""
        return self.writer.call(self._on_conn, self.fenced(fn), args)

    async def acall(self, fn: Any, *args: Any) -> Any:
        return await self.writer.acall(self._on_conn, self.fenced(fn), args)

    def fenced(self, fn: Any, thread_id: str | None = None) -> Any:
        """`fn`, or in cluster mode `fn` preceded in its transaction by its thread's fence."""
        return fn if self.fencing is None else self.fencing.guard(fn, thread_id, lambda: self.conn)

    def _on_conn(self, fn: Any, args: tuple[Any, ...]) -> Any:
        return fn(self.conn, *args)

    def _usable(self) -> bool:
        if not (self.conn.closed or self.conn.broken):
            return True
        try:
            self.conn = HoldingConnection(self._connect(), self.held)
            self.on_reconnect()
            return True
        except (psycopg.Error, RuntimeError):  # RuntimeError: the schema lock is lost (LockLost)
            return False

    def _run_batch(self, batch: list[Call]) -> None:
        if not self._usable():
            error = psycopg.OperationalError("the PostgreSQL writer connection is down")
            for call in batch:
                call.result, call.error = None, error
            return
        try:
            self._transaction(batch)
            return
        except Exception as exc:  # noqa: BLE001 - someone's call failed, or the commit did: each on its own below
            self._reset()
            if len(batch) == 1:
                batch[0].result, batch[0].error = None, self._error_of(exc)
                return
        for call in batch:
            if not self._usable():
                call.result, call.error = None, psycopg.OperationalError("the PostgreSQL writer connection is down")
                continue
            try:
                self._transaction([call])
            except Exception as exc:
                self._reset()
                call.result, call.error = None, self._error_of(exc)

    def _error_of(self, exc: Exception) -> Exception:
        """In pipeline mode a statement's error surfaces when the pipeline syncs, not where it was
        sent: a fence's refusal is told here (cluster mode), as `Fenced`."""
        return exc if self.fencing is None else self.fencing.refusal(exc)

    def _transaction(self, calls: list[Call]) -> None:
        """The calls in one transaction, sent in pipeline mode: BEGIN, the statements and COMMIT go
        out without waiting for each other, so a batch is one round trip (and the commit's flush),
        plus one per result a call reads before the end (an insert's RETURNING, an update's SELECT).
        psycopg's `transaction()` would sync the pipeline twice more, after BEGIN and before COMMIT."""
        self.held.discard()  # anything a failed transaction left
        with self.conn.pipeline():
            self.conn.execute("BEGIN")
            for call in calls:
                call.result, call.error = call.fn(*call.args), None
            self.conn.execute("COMMIT")

    def _reset(self) -> None:
        """After a failed transaction: drop the connection (`_usable` opens a new one). It may still be
        in the failed transaction, and psycopg's record of prepared statements out of step with the
        server's (a PREPARE in the failed pipeline was undone); failures are rare (a lost database, a
        bad call), so starting afresh costs little."""
        try:
            self.conn.close()
        except psycopg.Error:
            pass

    def close(self) -> None:
        self.writer.close()
        self.conn.close()


class _WriterSaver(PostgresSaver):
    """LangGraph's sync `PostgresSaver` code, on the writer's connection, inside its transaction."""

    def __init__(self, writer: PostgresWriter, serde: Any) -> None:
        super().__init__(writer.conn, serde=serde)
        self._writer = writer

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        with self._writer.conn.cursor(binary=True, row_factory=dict_row) as cur:
            yield cur


class _PoolReaderSaver(PostgresSaver):
    """LangGraph's sync `PostgresSaver` code for reads, each on a connection of a sync pool."""

    def __init__(self, pool: ConnectionPool[Any], serde: Any) -> None:
        super().__init__(pool, serde=serde)  # type: ignore[arg-type]
        self._pool = pool

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.cursor(binary=True, row_factory=dict_row) as cur:
            yield cur

    def get_tuple(self, config: Any) -> Any:
        """The pool does not check a connection on checkout (a round trip per call): after the
        database restarted, idle ones are dead. A read is safe to repeat, so it is tried once more
        after the pool dropped its dead connections; if the database is away, that fails too."""
        try:
            return super().get_tuple(config)
        except psycopg.OperationalError:
            self._pool.check()
            return super().get_tuple(config)


class GroupCommitPostgresSaver(AsyncPostgresSaver):
    """`AsyncPostgresSaver` whose writes go through the group-commit writer and whose latest-checkpoint
    reads (`aget_tuple`: every run's start, every state read) run on reader threads with the record
    table's sync pool. Under load the graph loop is busy with every run's steps, and an async query
    needs several turns of it (checkout, send, each result), so on the async pool a run's first read
    waited 260 ms p50 in the 40-thread harness (0.1 ms idle); on a thread it is one hop there and
    one back. Other reads (history, the store) stay on the async pool."""

    def __init__(self, pool: Any, writer: PostgresWriter, read_pool: ConnectionPool[Any], readers: int = 8) -> None:
        super().__init__(pool)
        self._writes = _WriterSaver(writer, self.serde)
        self._writer = writer
        self._inputs = InputCheckpoints()
        self._reads = _PoolReaderSaver(read_pool, self.serde)
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="checkpoint-reader")

    async def aget_tuple(self, config: Any) -> Any:
        if self._inputs.pending(_thread_of(config)):  # a run's input save is queued: read after it
            return await self._writer.writer.acall(self._writes.get_tuple, config, writes=False)
        return await asyncio.wrap_future(self._readers.submit(self._reads.get_tuple, config))

    async def alist(self, config: Any, *, filter: Any = None, before: Any = None, limit: int | None = None) -> Any:
        """History, on the async pool - after the thread's input checkpoint, if one is queued."""
        thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
        await self._inputs.landed(None if thread_id is None else str(thread_id))
        async for item in super().alist(config, filter=filter, before=before, limit=limit):
            yield item

    async def close_readers(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        thread_id = _thread_of(config)
        put = self._writer.fenced(self._writes.put, thread_id)
        saved = self._writer.writer.submit(put, config, checkpoint, checkpoint_metadata(config, metadata), new_versions)
        return await self._inputs.save(thread_id, saved, InputCheckpoints.input_of(config, checkpoint, metadata))

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        thread_id = _thread_of(config)
        put_writes = self._writer.fenced(self._writes.put_writes, thread_id)
        return await self._inputs.save(thread_id, self._writer.writer.submit(put_writes, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        return await self._writer.writer.acall(self._writes.delete_thread, thread_id)


def _thread_of(config: Any) -> str:
    return str(config["configurable"]["thread_id"])
