"""`GroupCommitSqliteSaver`: LangGraph's `SqliteSaver` (its schema, SQL and serialization, unchanged)
with every call - sync or async - carried out by one writer thread that commits the writes of many
runs in one transaction (group commit, group_commit.py).

Why not `AsyncSqliteSaver`: it shares one aiosqlite connection behind an asyncio lock, and aiosqlite
makes every cursor call a round trip to its thread (execute, fetch, close, commit: 3-4 hops per
checkpoint write), so under load the runs of all threads queue behind each other's hops on the graph
loop. Here a call is one hop to the writer and one back, and the writer drains everything queued
meanwhile into one `BEGIN ... COMMIT` (see docs/benchmarks.md for the profile and the figures).

Durability is unchanged: a caller's `aput`/`aput_writes` returns only after the transaction holding
its write has committed, so with `durability="sync"` a step's checkpoint is committed before the next
step starts, as before. One failing call (a value that cannot be serialized) fails alone: its batch
is rolled back and each call run again on its own (`run_batch`), so the others still commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from .base import checkpoint_metadata
from .group_commit import Call, GroupCommitWriter, InputCheckpoints
from .sqlite_inserts import HeldInserts, HoldingCursor


class GroupCommitSqliteSaver(SqliteSaver):
    """A `SqliteSaver` whose calls run on its writer thread, writes grouped into shared commits."""

    def __init__(self, path: str, *, serde: Any = None) -> None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL + synchronous=NORMAL, as the record table: a commit is in the WAL (the OS page cache)
        # when it returns, so it survives the process being killed; see docs/storage.md.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        super().__init__(conn, serde=serde)
        self.setup()
        self._held = HeldInserts(conn)
        self.writer = GroupCommitWriter("checkpoint-writer", self._run_batch)
        self._inputs = InputCheckpoints()
        # Latest-checkpoint reads (every run's start, every state read) on a connection of their own
        # and a thread of their own: in WAL mode a reader never waits for the writer, so a run's
        # first read no longer queues behind every other run's write batches on the writer thread
        # (16 ms p50 there in the 40-thread harness). One reader thread: the read is short.
        self._reader = SqliteSaver(sqlite3.connect(path, isolation_level=None, check_same_thread=False), serde=self.serde)
        self._reader.is_setup = True  # the writer created the tables; the reader never writes
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="checkpoint-reader")

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[Any]:
        """On the writer thread only, inside the batch's transaction: the batch commits, not the
        call; its INSERTs are held and sent together before the commit (sqlite_inserts.py)."""
        cur = self.conn.cursor()
        try:
            yield HoldingCursor(cur, self._held)
        finally:
            cur.close()

    def _run_batch(self, batch: list[Call]) -> None:
        run_batch(self.conn, batch, self._held)

    def close(self) -> None:
        self._reads.shutdown(wait=True, cancel_futures=True)
        self._reader.conn.close()
        self.writer.close()
        self.conn.close()

    def _read_latest(self, config: Any) -> Any:
        """On the reader thread: the checkpoint, then its pending writes. Two statements, each its
        own snapshot, without a read transaction around them (BEGIN and COMMIT were two more
        statements, each a GIL hand-off under load): writes added between the two are writes of
        that checkpoint all the same, and a run's start reads when no run of its thread is going."""
        return SqliteSaver.get_tuple(self._reader, config)

    # --- the checkpointer API: SqliteSaver's own code, on the writer ----------------------------

    def get_tuple(self, config: Any) -> Any:
        if self._inputs.pending(_thread_of(config)):  # a run's input save is queued: read after it
            return self.writer.call(super().get_tuple, config, writes=False)
        return self._reads.submit(self._read_latest, config).result()

    def list(self, config: Any, *, filter: dict[str, Any] | None = None, before: Any = None, limit: int | None = None) -> Iterator[Any]:
        return iter(self.writer.call(self._list, config, filter, before, limit, writes=False))

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.writer.call(super().put, config, checkpoint, checkpoint_metadata(config, metadata), new_versions)

    def put_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        return self.writer.call(super().put_writes, config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        return self.writer.call(super().delete_thread, thread_id)

    def get_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return self.writer.call(self._delta_history, config, channels, writes=False)

    async def aget_tuple(self, config: Any) -> Any:
        if self._inputs.pending(_thread_of(config)):  # a run's input save is queued: read after it
            return await self.writer.acall(super().get_tuple, config, writes=False)
        return await asyncio.wrap_future(self._reads.submit(self._read_latest, config))

    async def alist(
        self, config: Any, *, filter: dict[str, Any] | None = None, before: Any = None, limit: int | None = None
    ) -> AsyncIterator[Any]:
        for item in await self.writer.acall(self._list, config, filter, before, limit, writes=False):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        saved = self.writer.submit(super().put, config, checkpoint, checkpoint_metadata(config, metadata), new_versions)
        return await self._inputs.save(_thread_of(config), saved, InputCheckpoints.input_of(config, checkpoint, metadata))

    async def aput_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        return await self._inputs.save(_thread_of(config), self.writer.submit(super().put_writes, config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        return await self.writer.acall(super().delete_thread, thread_id)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return await self.writer.acall(self._delta_history, config, channels, writes=False)

    async def adelete_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) that these runs made: a rollback."""
        await self.writer.acall(self._delete_runs, thread_id, tuple(run_ids))

    def _list(self, config: Any, filter: Any, before: Any, limit: Any) -> list[Any]:
        return [*SqliteSaver.list(self, config, filter=filter, before=before, limit=limit)]

    def _delta_history(self, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return SqliteSaver.get_delta_channel_history(self, config=config, channels=channels)

    def _delete_runs(self, thread_id: str, run_ids: tuple[str, ...]) -> None:
        marks = ",".join("?" * len(run_ids))
        where = f"thread_id = ? AND json_extract(CAST(metadata AS TEXT), '$.run_id') IN ({marks})"
        self.conn.execute(
            "DELETE FROM writes WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
            f"(SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints WHERE {where})",
            (thread_id, *run_ids),
        )
        self.conn.execute(f"DELETE FROM checkpoints WHERE {where}", (thread_id, *run_ids))


def run_batch(conn: sqlite3.Connection, batch: list[Call], held: HeldInserts | None = None) -> None:
    """A group-commit batch on SQLite: one transaction (if any call writes). Optimistic: the calls run
    one after the other with no SAVEPOINT between them (each one was two more statements, and each
    statement hands the GIL away and waits to get it back: the dearest part of a call under load).
    If one fails (a value that cannot be serialized), the transaction is rolled back and each call
    runs again in a transaction of its own, so it fails alone and the others still commit; if the
    database itself fails (a full disk), every call fails with it. Calls are database work only, so
    running one again after a rollback is safe. `held`: INSERTs the calls kept back (the checkpoint
    saver's, sqlite_inserts.py), sent just before each commit."""
    if not any(call.writes for call in batch):
        for call in batch:
            call.run()
        return
    try:
        _transaction(conn, batch, held)
    except sqlite3.Error as exc:
        if len(batch) == 1:
            batch[0].result, batch[0].error = None, exc
            return
    else:
        if all(call.error is None for call in batch) or len(batch) == 1:
            return
    for call in batch:  # someone failed, and the batch was rolled back: each on its own
        try:
            _transaction(conn, [call], held)
        except sqlite3.Error as exc:
            call.result, call.error = None, exc


def _transaction(conn: sqlite3.Connection, calls: list[Call], held: HeldInserts | None) -> None:
    """The calls in one transaction, committed if every call succeeded, else rolled back; raises
    if the database failed (BEGIN, COMMIT, or SQLite having rolled back by itself)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for call in calls:
            call.run()
            if call.error is not None:
                if not conn.in_transaction and isinstance(call.error, sqlite3.Error):  # SQLite rolled back (a full disk)
                    raise call.error
                conn.execute("ROLLBACK")
                return
        if held is not None:
            held.flush()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        if held is not None:
            held.discard()  # what a rolled-back transaction held (after a commit: nothing)


def _thread_of(config: Any) -> str:
    return str(config["configurable"]["thread_id"])
