"""`GroupCommitSqliteSaver`: LangGraph's `SqliteSaver` (its schema, SQL and serialization, unchanged)
with every call - sync or async - carried out by one writer thread that commits the writes of many
runs in one transaction (group commit).

Why not `AsyncSqliteSaver`: it shares one aiosqlite connection behind an asyncio lock, and aiosqlite
makes every cursor call a round trip to its thread (execute, fetch, close, commit: 3-4 hops per
checkpoint write), so under load the runs of all threads queue behind each other's hops on the graph
loop. Here a call is one hop to the writer and one back, and the writer drains everything queued
meanwhile into one `BEGIN ... COMMIT` (see docs/benchmarks.md for the profile and the figures).

Durability is unchanged: a caller's `aput`/`aput_writes` returns only after the transaction holding
its write has committed, so with `durability="sync"` a step's checkpoint is committed before the next
step starts, as before. Each write runs inside its own SAVEPOINT, so one failing call (a value that
cannot be serialized) fails alone and the others in its batch still commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

MAX_BATCH = 512
"""Calls taken into one transaction at most (a bound on how long one commit holds the others)."""

_STOP = object()


class _Call:
    __slots__ = ("fn", "args", "writes", "future", "loop", "result", "error")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], writes: bool, loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn, self.args, self.writes, self.loop = fn, args, writes, loop
        self.future: Any = loop.create_future() if loop is not None else concurrent.futures.Future()
        self.result: Any = None
        self.error: BaseException | None = None


def _resolve(calls: list[_Call]) -> None:
    """On the callers' loop: hand each its result (one wake-up per loop and batch)."""
    for call in calls:
        if call.future.done():  # the caller was cancelled meanwhile; its write is committed all the same
            continue
        if call.error is not None:
            call.future.set_exception(call.error)
        else:
            call.future.set_result(call.result)


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
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._serve, name="checkpoint-writer", daemon=True)
        self._writer.start()

    # --- the writer ----------------------------------------------------------------------------

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        """On the writer thread only, inside the batch's transaction: the batch commits, not the call."""
        cur = self.conn.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _serve(self) -> None:
        while True:
            first = self._calls.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._calls.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list[_Call]) -> None:
        conn = self.conn
        in_transaction = any(call.writes for call in batch)
        try:
            if in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            for call in batch:
                self._run_one(conn, call)
            if in_transaction:
                conn.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed (disk full, I/O error): nothing is kept
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for call in batch:
                call.error, call.result = _as_error(exc), None
        self._deliver(batch)

    def _run_one(self, conn: sqlite3.Connection, call: _Call) -> None:
        if not call.writes:
            try:
                call.result = call.fn(*call.args)
            except Exception as exc:
                call.error = exc
            return
        conn.execute("SAVEPOINT call")
        try:
            call.result = call.fn(*call.args)
        except Exception as exc:
            call.error = exc
            conn.execute("ROLLBACK TO call")
        conn.execute("RELEASE call")

    def _deliver(self, batch: list[_Call]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
        for call in batch:
            if call.loop is None:
                if call.error is not None:
                    call.future.set_exception(call.error)
                else:
                    call.future.set_result(call.result)
            else:
                by_loop.setdefault(call.loop, []).append(call)
        for loop, calls in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, calls)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass

    # --- submitting ------------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], writes: bool) -> Any:
        """From any thread but the writer: run `fn` there and wait for it (and its commit)."""
        if threading.current_thread() is self._writer:
            return fn(*args)
        call = _Call(fn, args, writes, None)
        self._calls.put(call)
        return call.future.result()

    async def _asubmit(self, fn: Callable[..., Any], args: tuple[Any, ...], writes: bool) -> Any:
        call = _Call(fn, args, writes, asyncio.get_running_loop())
        self._calls.put(call)
        # A cancelled caller stops waiting; the call itself still runs (as with aiosqlite).
        return await call.future

    def close(self) -> None:
        if self._writer.is_alive():
            self._calls.put(_STOP)
            self._writer.join()
        self.conn.close()

    # --- the checkpointer API: SqliteSaver's own code, on the writer ----------------------------

    def get_tuple(self, config: Any) -> Any:
        return self._submit(super().get_tuple, (config,), False)

    def list(self, config: Any, *, filter: dict[str, Any] | None = None, before: Any = None, limit: int | None = None) -> Iterator[Any]:
        return iter(self._submit(self._list, (config, filter, before, limit), False))

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self._submit(super().put, (config, checkpoint, metadata, new_versions), True)

    def put_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        return self._submit(super().put_writes, (config, writes, task_id, task_path), True)

    def delete_thread(self, thread_id: str) -> None:
        return self._submit(super().delete_thread, (thread_id,), True)

    def get_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return self._submit(self._delta_history, (config, channels), False)

    async def aget_tuple(self, config: Any) -> Any:
        return await self._asubmit(super().get_tuple, (config,), False)

    async def alist(
        self, config: Any, *, filter: dict[str, Any] | None = None, before: Any = None, limit: int | None = None
    ) -> AsyncIterator[Any]:
        for item in await self._asubmit(self._list, (config, filter, before, limit), False):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return await self._asubmit(super().put, (config, checkpoint, metadata, new_versions), True)

    async def aput_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        return await self._asubmit(super().put_writes, (config, writes, task_id, task_path), True)

    async def adelete_thread(self, thread_id: str) -> None:
        return await self._asubmit(super().delete_thread, (thread_id,), True)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return await self._asubmit(self._delta_history, (config, channels), False)

    async def adelete_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) that these runs made: a rollback."""
        await self._asubmit(self._delete_runs, (thread_id, tuple(run_ids)), True)

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


def _as_error(exc: BaseException) -> BaseException:
    return exc if isinstance(exc, Exception) else RuntimeError(f"checkpoint transaction failed: {exc!r}")

