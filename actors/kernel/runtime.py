"""The event loop graphs run on, and the bridge between actor threads and asyncio.

Every graph step runs as an asyncio task on one loop in its own thread (`GraphLoop`). Actors talk to
it by scheduling coroutines (`submit`) and get completions back as messages, so no actor ever blocks
on a step. Sync nodes run in the loop's default executor, which counts in-flight calls per run: a run
that was cancelled is not reported stopped until its blocking calls have returned (`drained`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

current_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "switchboard_current_run_id", default=None
)


async def wait_future(future: concurrent.futures.Future[T]) -> T:
    """Await a thread-safe future without blocking the event loop.

    pykka's own `Future.__await__` calls the blocking `get()`; our messages carry a
    `concurrent.futures.Future` instead. Unlike `asyncio.wrap_future`, a cancelled waiter (an HTTP
    client that went away) does not cancel the future: an actor's reply or a run's end must still
    be deliverable, and is simply not read. Also lighter: one callback, no second future chained.
    """
    if future.done():
        return future.result()
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()
    loop_thread = threading.get_ident()

    def wake(done: concurrent.futures.Future[T]) -> None:
        try:
            if threading.get_ident() == loop_thread:  # resolved on the waiter's own loop (adopted)
                loop.call_soon(_deliver, waiter, done)
            else:
                loop.call_soon_threadsafe(_deliver, waiter, done)
        except RuntimeError:  # the waiting loop is closed: nobody reads this any more
            pass

    future.add_done_callback(wake)
    return await waiter


def _deliver(waiter: asyncio.Future[T], done: concurrent.futures.Future[T]) -> None:
    if not waiter.done():  # else the waiter was cancelled
        _copy_outcome(done, waiter)


class TrackingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that knows how many calls each run has in flight (sync graph nodes)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="switchboard-sync-node")
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = defaultdict(int)
        self._waiters: dict[str, list[Callable[[], None]]] = defaultdict(list)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        run_id = current_run_id.get()
        future = super().submit(fn, *args, **kwargs)
        if run_id is not None:
            with self._lock:
                self._inflight[run_id] += 1
            future.add_done_callback(lambda _f: self._done(run_id))
        return future

    def _done(self, run_id: str) -> None:
        with self._lock:
            self._inflight[run_id] -= 1
            if self._inflight[run_id] > 0:
                return
            del self._inflight[run_id]
            waiters = self._waiters.pop(run_id, [])
        for wake in waiters:
            wake()

    async def drained(self, run_id: str) -> None:
        """Return once no sync call of `run_id` is executing any more."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        with self._lock:
            if self._inflight.get(run_id, 0) == 0:
                return
            self._waiters[run_id].append(wake)
        await done


class GraphLoop:
    """An asyncio loop in a daemon thread; graphs, checkpointers and timers live on it.

    With `loop=`, an already running loop is adopted instead (`ActorSystem.on_running_loop`): no
    thread of our own; the loop's default executor becomes our tracking one (sync graph nodes run
    there, and a stopped run waits for them); `astop()` cancels only what we started on it."""

    def __init__(self, max_sync_workers: int | None = 64, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.executor = TrackingExecutor(max_workers=max_sync_workers)
        self._tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self.adopted = loop is not None
        if loop is not None:
            self.loop = loop
            self.loop.set_default_executor(self.executor)
            self._thread = threading.current_thread()
            return
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(self.executor)
        self._thread = threading.Thread(target=self._run, name="switchboard-graph-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop from any thread (on the loop itself: a task at once)."""
        if not self.on_loop():
            return asyncio.run_coroutine_threadsafe(coro, self.loop)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda task: _copy_outcome(task, future))
        return future

    def execute(self, turn: Callable[[], None]) -> None:
        """The dispatcher of actors that live on this loop (`actors/kernel/dispatch.py`): run `turn` soon."""
        if self.on_loop():
            self.loop.call_soon(turn)
        else:
            self.loop.call_soon_threadsafe(turn)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the loop and wait for it (from a non-loop thread only)."""
        if self.on_loop():
            coro.close()
            raise RuntimeError("waiting on the graph loop from the graph loop itself would deadlock; await it instead")
        return self.submit(coro).result(timeout)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.on_loop():
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        """Thread-safe `loop.call_later`: cheap timers for passivation and delayed runs."""
        holder: concurrent.futures.Future[asyncio.TimerHandle] = concurrent.futures.Future()
        if self.on_loop():
            return self.loop.call_later(delay, fn, *args)
        self.loop.call_soon_threadsafe(lambda: holder.set_result(self.loop.call_later(delay, fn, *args)))
        return _LazyTimer(holder)  # type: ignore[return-value]

    async def astop(self) -> None:
        """Adopted loop: cancel the tasks we started on it (runs, timers' work) and let them end."""
        tasks = [t for t in self._tasks if not t.done() and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        if self.adopted:
            raise RuntimeError("an adopted loop is stopped with `await astop()`, on that loop")
        if self.loop.is_closed():
            return

        async def _shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call(_shutdown(), timeout=10)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)


def _copy_outcome(source: Any, target: Any) -> None:
    """Copy a finished future's outcome into another (asyncio and concurrent futures alike)."""
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())


class _LazyTimer:
    """A timer handle created on the loop thread; `cancel()` works from any thread."""

    def __init__(self, holder: concurrent.futures.Future[asyncio.TimerHandle]) -> None:
        self._holder = holder

    def cancel(self) -> None:
        self._holder.add_done_callback(lambda f: f.result()._loop.call_soon_threadsafe(f.result().cancel))
