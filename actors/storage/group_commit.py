"""Group commit: one writer thread owns a database connection; callers (threads or coroutines on any
loop) hand it calls, and it carries out everything queued meanwhile in one transaction, so the runs
of many threads share one commit (on PostgreSQL: one fsync) instead of paying one each.

A caller waits for its own call's transaction to commit - durability is what it was with a commit per
call - and hears back with one hop (one wake-up per event loop and batch). How a batch maps onto
transactions, and how one failing call is kept from failing the others, is the backend's `run_batch`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any

MAX_BATCH = 512
"""Calls taken into one transaction at most (bounds how long one commit keeps the next batch waiting)."""

_STOP = object()


class Call:
    """One caller's call: `fn(*args)` on the writer's connection; `writes` False for a read."""

    __slots__ = ("fn", "args", "writes", "future", "loop", "result", "error")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], writes: bool, loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn, self.args, self.writes, self.loop = fn, args, writes, loop
        self.future: Any = loop.create_future() if loop is not None else concurrent.futures.Future()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        """Run it, keeping its result or its error (for the batch to decide what to do)."""
        try:
            self.result, self.error = self.fn(*self.args), None
        except Exception as exc:
            self.result, self.error = None, exc


def _resolve(calls: list[Call]) -> None:
    """On the callers' loop: hand each its result."""
    for call in calls:
        if call.future.done():  # the caller stopped waiting (cancelled); the call ran all the same
            continue
        if call.error is not None:
            call.future.set_exception(call.error)
        else:
            call.future.set_result(call.result)


class GroupCommitWriter:
    """The writer thread. `run_batch(calls)` runs a batch and sets each call's result or error."""

    def __init__(self, name: str, run_batch: Callable[[list[Call]], None]) -> None:
        self._run_batch = run_batch
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def on_writer(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, fn: Callable[..., Any], *args: Any, writes: bool = True) -> Any:
        """From a thread: run `fn(*args)` on the writer and wait for it (and its commit)."""
        if self.on_writer():  # a call made from inside a batch (nested): it is part of that batch
            return fn(*args)
        call = Call(fn, args, writes, None)
        self._calls.put(call)
        return call.future.result()

    async def acall(self, fn: Callable[..., Any], *args: Any, writes: bool = True) -> Any:
        """From a coroutine: the same, without blocking its loop. A cancelled caller stops waiting;
        its call still runs."""
        call = Call(fn, args, writes, asyncio.get_running_loop())
        self._calls.put(call)
        return await call.future

    def submit(self, fn: Callable[..., Any], *args: Any, writes: bool = True) -> asyncio.Future[Any]:
        """From a coroutine: queue `fn(*args)` and return the future of its result (and commit)
        without waiting for it."""
        call = Call(fn, args, writes, asyncio.get_running_loop())
        self._calls.put(call)
        return call.future

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._calls.put(_STOP)
            self._thread.join()

    def _serve(self) -> None:
        while True:
            first = self._calls.get()
            if first is _STOP:
                return
            batch, stop = [first], False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._calls.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)
            try:
                self._run_batch(batch)
            except BaseException as exc:  # the backend could not even report per call: all fail
                for call in batch:
                    call.result, call.error = None, exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
            self._deliver(batch)
            if stop:
                return

    @staticmethod
    def _deliver(batch: list[Call]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Call]] = {}
        for call in batch:
            if call.loop is not None:
                by_loop.setdefault(call.loop, []).append(call)
            elif call.error is not None:
                call.future.set_exception(call.error)
            else:
                call.future.set_result(call.result)
        for loop, calls in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, calls)
            except RuntimeError:  # that loop has closed: nobody waits there any more
                pass


class InputCheckpoints:
    """A run's input checkpoint, acknowledged once it is queued rather than once it is committed.

    LangGraph saves a run's checkpoints as a chain - each save waits for the one before - and in
    `durability="sync"` waits for each step's save before the next step. The first link is the input
    checkpoint (metadata `source: "input"`), which no step waits for on its own: the first step waits
    for the checkpoint of the `__start__` step, which LangGraph hands over only after the input one
    returned. Waiting for the input's commit first made a run's first step wait for two commits in a
    row (each a writer round trip: ~15-30 ms under the 40-thread harness). Here the input checkpoint
    returns once queued; the writer commits in order (one thread, batches in FIFO order), so the
    commit the step waits for implies the input's. Its error, if any, is raised by the thread's next
    checkpoint call (the one the step waits for), as LangGraph's chain would have raised it. Until it
    has committed, the thread's latest-checkpoint reads go through the writer (after it), and so do
    deletions (a rollback's): nobody can see the thread without it, or delete before it lands."""

    def __init__(self) -> None:
        self._queued: dict[str, asyncio.Future[Any]] = {}

    def pending(self, thread_id: str) -> bool:
        """Whether the thread has an input save queued and not yet committed (or failed): a read of
        its latest checkpoint must then go through the writer, after it (read-your-writes)."""
        return thread_id in self._queued

    async def landed(self, thread_id: str | None) -> None:
        """Once the thread's queued input save (every thread's, for None) has settled: for a read
        that does not go through the writer (PostgreSQL's history), read-your-writes. Only saves
        queued from this loop can be awaited here; in the server every checkpoint call is on the
        graph loop."""
        queued = list(self._queued.values()) if thread_id is None else [self._queued[thread_id]] if thread_id in self._queued else []
        loop = asyncio.get_running_loop()
        mine = [saved for saved in queued if saved.get_loop() is loop]
        if mine:
            await asyncio.wait(mine)  # its error, if any, is for the thread's next checkpoint call

    async def save(self, thread_id: str, saved: asyncio.Future[Any], input_of: tuple[Any, str] | None = None) -> Any:
        """The result of a checkpoint call just queued on the writer (`saved`), once committed - or,
        for an input checkpoint (`input_of`: its config and checkpoint id), at once: the config its
        save will return. A call after a failed input save of its thread raises that save's error."""
        earlier = self._queued.pop(thread_id, None)
        if input_of is not None and earlier is None:
            self._queued[thread_id] = saved
            saved.add_done_callback(lambda done: self._settled(thread_id, done))
            config, checkpoint_id = input_of
            configurable = config["configurable"]
            return {"configurable": {"thread_id": configurable["thread_id"], "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                                     "checkpoint_id": checkpoint_id}}
        result = await saved
        if earlier is not None:  # committed in order: it has settled once `saved` has
            await earlier
        return result

    @staticmethod
    def input_of(config: Any, checkpoint: Any, metadata: Any) -> tuple[Any, str] | None:
        """`save`'s `input_of` for an input checkpoint (metadata `source: "input"`), else None."""
        return (config, checkpoint["id"]) if isinstance(metadata, dict) and metadata.get("source") == "input" else None

    def _settled(self, thread_id: str, done: asyncio.Future[Any]) -> None:
        # A failed save waits for the thread's next call to raise it; a committed one is forgotten.
        if self._queued.get(thread_id) is done and not done.cancelled() and done.exception() is None:
            del self._queued[thread_id]
