"""The one door every caller from outside the actors goes through: HTTP handlers and `system.aio`
(`Door`, asyncio) and the sync facade (`SyncDoor`, plain threads). An operation runs where its
storage calls cannot stall the caller's event loop, and its reply is awaited without blocking
(`runtime.wait_future`).

`Operations` methods read storage synchronously (SQLite, PostgreSQL) and answer with a value or a
`concurrent.futures.Future`. `Door.call` runs one on the system's storage executor, a small pool of
threads of its own, then awaits the future it returned, if any. A system on the caller's own loop
(`ActorSystem.on_running_loop`) keeps its records in memory and has no threads: there the call runs
inline, as before. `SyncDoor.call` runs it on the caller's thread and waits for the future.

The sequences that span several calls are written once, as generators of calls that either door
carries out (`_stream_run`, `_wait_run`): creating a run and subscribing to its events before it
can start, creating a run and watching for its end.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from .models import Run
from .operations import Operations
from .kernel.runtime import wait_future
from .kernel.streams import AsyncSubscription, RunStream, SyncSubscription

T = TypeVar("T")
Steps = Generator[Callable[[], Any], Any, T]
"""A sequence of calls: each yielded call is made by a door, its reply (or error) sent back in."""


def _stream_run(ops: Operations, subscribe: Callable[[RunStream], Any], thread_id: str | None, assistant_id: str, options: dict[str, Any]) -> Steps[tuple[Run, Any]]:
    """Create a run and subscribe to its events before it can start; the run is accepted (or
    `ThreadBusy` etc. raised) before the subscription is returned."""
    run = yield functools.partial(ops.prepare_run, thread_id, assistant_id, **options)
    subscription = subscribe(ops.open_stream(run))
    try:
        yield functools.partial(ops.submit_run, run)
    except BaseException:
        subscription.close()
        raise
    return run, subscription


def _wait_run(ops: Operations, thread_id: str | None, assistant_id: str, options: dict[str, Any]) -> Steps[tuple[Run, concurrent.futures.Future[Any]]]:
    """Create a run; the future is its output once it has ended (watched from its acceptance, so a
    stateless run's thread deleted right after cannot make it miss the end)."""
    run = yield functools.partial(ops.prepare_run, thread_id, assistant_id, **options)
    return run, ops.submit_run(run, then_watch=True)


class Door:
    """The asyncio callers' door."""

    def __init__(self, ops: Operations, executor: concurrent.futures.Executor | None) -> None:
        self.ops = ops
        self.executor = executor  # None: call inline (the system lives on the caller's loop)

    async def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` off the event loop; a returned future is awaited."""
        if self.executor is None:
            result = fn(*args, **kwargs)
        else:
            # in a copy of the caller's context: an operation sees who asked (config/auth.py, REQUEST_USER)
            call = functools.partial(fn, *args, **kwargs)
            result = await wait_future(self.executor.submit(contextvars.copy_context().run, call))
        if isinstance(result, concurrent.futures.Future):
            result = await wait_future(result)
        return result

    def soon(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Start `fn(*args, **kwargs)` off the event loop without waiting (a disconnected client's
        run is cancelled this way: nobody reads the answer)."""
        if self.executor is None:
            fn(*args, **kwargs)
        else:
            self.executor.submit(functools.partial(fn, *args, **kwargs))

    async def stream_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> tuple[Run, AsyncSubscription]:
        return await self._carry_out(_stream_run(self.ops, AsyncSubscription, thread_id, assistant_id, options))

    async def wait_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> tuple[Run, concurrent.futures.Future[Any]]:
        return await self._carry_out(_wait_run(self.ops, thread_id, assistant_id, options))

    async def _carry_out(self, steps: Steps[T]) -> T:
        reply: Any = None
        failure: BaseException | None = None
        while True:
            try:
                step = steps.send(reply) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return done.value
            try:
                reply, failure = await self.call(step), None
            except BaseException as exc:  # handed to the sequence, which cleans up and re-raises
                reply, failure = None, exc


class SyncDoor:
    """The sync facade's door: the same operations and sequences, each call waited for on the
    caller's thread (never on the thread of a system that lives on the caller's loop)."""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)`; a returned future is waited for."""
        if self.ops.ctx.runtime.adopted and self.ops.ctx.runtime.on_loop():
            # A system on this loop answers through it: waiting here would wait forever.
            raise RuntimeError("this system runs on this event loop: use `system.aio` here (the sync facade would block it)")
        result = fn(*args, **kwargs)
        if isinstance(result, concurrent.futures.Future):
            result = result.result()
        return result

    def stream_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> tuple[Run, SyncSubscription]:
        return self._carry_out(_stream_run(self.ops, SyncSubscription, thread_id, assistant_id, options))

    def wait_run(self, thread_id: str | None, assistant_id: str, **options: Any) -> tuple[Run, concurrent.futures.Future[Any]]:
        return self._carry_out(_wait_run(self.ops, thread_id, assistant_id, options))

    def _carry_out(self, steps: Steps[T]) -> T:
        reply: Any = None
        failure: BaseException | None = None
        while True:
            try:
                step = steps.send(reply) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return done.value
            try:
                reply, failure = self.call(step), None
            except BaseException as exc:  # handed to the sequence, which cleans up and re-raises
                reply, failure = None, exc
