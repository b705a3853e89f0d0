"""The one door every asyncio caller goes through (HTTP handlers and `system.aio`): an operation runs
where its storage calls cannot stall the caller's event loop, and its reply is awaited without
blocking (`runtime.wait_future`).

`Operations` methods read storage synchronously (SQLite, PostgreSQL) and answer with a value or a
`concurrent.futures.Future`. `Door.call` runs one on the system's storage executor, a small pool of
threads of its own, then awaits the future it returned, if any. A system on the caller's own loop
(`ActorSystem.on_running_loop`) keeps its records in memory and has no threads: there the call runs
inline, as before. Work that needs the caller's loop (an `AsyncSubscription` to a run's events) is
done here too, once, for every async caller: `stream_run` and `wait_run`.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import Any

from .models import Run
from .operations import Operations
from .kernel.runtime import wait_future
from .kernel.streams import AsyncSubscription


class Door:
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
        """Create a run and subscribe to its events before it can start; the run is accepted (or
        `ThreadBusy` etc. raised) before the subscription is returned."""
        run = await self.call(self.ops.prepare_run, thread_id, assistant_id, **options)
        subscription = AsyncSubscription(self.ops.open_stream(run))
        try:
            await self.call(self.ops.submit_run, run)
        except BaseException:
            subscription.close()
            raise
        return run, subscription

    async def wait_run(
        self, thread_id: str | None, assistant_id: str, **options: Any
    ) -> tuple[Run, concurrent.futures.Future[Any]]:
        """Create a run; the future is its output once it has ended (watched from its acceptance,
        so a stateless run's thread deleted right after cannot make it miss the end)."""
        run = await self.call(self.ops.prepare_run, thread_id, assistant_id, **options)
        return run, self.ops.submit_run(run, then_watch=True)
