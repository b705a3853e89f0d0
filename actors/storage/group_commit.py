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
