"""The embedded clients: the same names and arguments as `langgraph-sdk`'s clients, without HTTP.

`system.threads` / `system.runs` are synchronous (like `get_sync_client()`), `system.aio.threads` /
`system.aio.runs` are coroutines (like `get_client()`). Records come back as plain dicts, as the SDK
returns them; stream parts as `(event, data)` tuples.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from .operations import Operations
from .runtime import wait_future
from .streams import AsyncSubscription, SyncSubscription

TIMEOUT = None  # sync waits follow the run; callers wanting a bound use the async API with wait_for


def _plain(record: Any) -> Any:
    return msgspec.to_builtins(record) if isinstance(record, msgspec.Struct) else record


class SyncThreads:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def create(self, *, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise") -> dict[str, Any]:
        return _plain(self._ops.create_thread(thread_id, metadata, if_exists))

    def get(self, thread_id: str) -> dict[str, Any]:
        return _plain(self._ops.get_thread(thread_id))

    def update(self, thread_id: str, *, metadata: dict[str, Any]) -> dict[str, Any]:
        return _plain(self._ops.update_thread(thread_id, metadata).result(TIMEOUT))

    def delete(self, thread_id: str) -> None:
        self._ops.delete_thread(thread_id).result(TIMEOUT)

    def search(self, *, metadata: dict[str, Any] | None = None, status: str | None = None, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        return [_plain(t) for t in self._ops.search_threads(metadata, status, limit, offset)]  # type: ignore[arg-type]

    def get_state(self, thread_id: str) -> dict[str, Any]:
        return self._ops.get_state(thread_id).result(TIMEOUT)


class SyncRuns:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def create(self, thread_id: str | None, assistant_id: str, **options: Any) -> dict[str, Any]:
        return _plain(self._ops.create_run(thread_id, assistant_id, **options).result(TIMEOUT))

    def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return _plain(self._ops.get_run(thread_id, run_id))

    def list(self, thread_id: str, *, limit: int = 10, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
        return [_plain(r) for r in self._ops.list_runs(thread_id, limit, offset, status)]

    def join(self, thread_id: str, run_id: str) -> Any:
        return self._ops.join_run(thread_id, run_id).result(TIMEOUT)

    def wait(self, thread_id: str | None, assistant_id: str, **options: Any) -> Any:
        run = self.create(thread_id, assistant_id, **options)
        return self.join(run["thread_id"], run["run_id"])

    def cancel(self, thread_id: str, run_id: str, *, wait: bool = False, action: str = "interrupt") -> None:
        self._ops.cancel_run(thread_id, run_id, wait=wait, action=action).result(TIMEOUT)  # type: ignore[arg-type]

    def delete(self, thread_id: str, run_id: str) -> None:
        self._ops.delete_run(thread_id, run_id)

    def stream(self, thread_id: str | None, assistant_id: str, **options: Any) -> Iterator[tuple[str, Any]]:
        run = self._ops.prepare_run(thread_id, assistant_id, **options)
        subscription = SyncSubscription(self._ops.open_stream(run))
        reply = self._ops.submit_run(run)
        reply.result(TIMEOUT)  # raises ThreadBusy etc. before any event is yielded
        for event in subscription:
            yield event.event, event.decoded()


class AsyncThreads:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    async def create(self, *, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise") -> dict[str, Any]:
        return _plain(self._ops.create_thread(thread_id, metadata, if_exists))

    async def get(self, thread_id: str) -> dict[str, Any]:
        return _plain(self._ops.get_thread(thread_id))

    async def update(self, thread_id: str, *, metadata: dict[str, Any]) -> dict[str, Any]:
        return _plain(await wait_future(self._ops.update_thread(thread_id, metadata)))

    async def delete(self, thread_id: str) -> None:
        await wait_future(self._ops.delete_thread(thread_id))

    async def search(self, *, metadata: dict[str, Any] | None = None, status: str | None = None, limit: int = 10, offset: int = 0) -> list[dict[str, Any]]:
        return [_plain(t) for t in self._ops.search_threads(metadata, status, limit, offset)]  # type: ignore[arg-type]

    async def get_state(self, thread_id: str) -> dict[str, Any]:
        return await wait_future(self._ops.get_state(thread_id))


class AsyncRuns:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    async def create(self, thread_id: str | None, assistant_id: str, **options: Any) -> dict[str, Any]:
        return _plain(await wait_future(self._ops.create_run(thread_id, assistant_id, **options)))

    async def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return _plain(self._ops.get_run(thread_id, run_id))

    async def list(self, thread_id: str, *, limit: int = 10, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
        return [_plain(r) for r in self._ops.list_runs(thread_id, limit, offset, status)]

    async def join(self, thread_id: str, run_id: str) -> Any:
        return await wait_future(self._ops.join_run(thread_id, run_id))

    async def wait(self, thread_id: str | None, assistant_id: str, **options: Any) -> Any:
        run = await self.create(thread_id, assistant_id, **options)
        return await self.join(run["thread_id"], run["run_id"])

    async def cancel(self, thread_id: str, run_id: str, *, wait: bool = False, action: str = "interrupt") -> None:
        await wait_future(self._ops.cancel_run(thread_id, run_id, wait=wait, action=action))  # type: ignore[arg-type]

    async def delete(self, thread_id: str, run_id: str) -> None:
        self._ops.delete_run(thread_id, run_id)

    async def stream(self, thread_id: str | None, assistant_id: str, **options: Any) -> AsyncIterator[tuple[str, Any]]:
        run = self._ops.prepare_run(thread_id, assistant_id, **options)
        subscription = AsyncSubscription(self._ops.open_stream(run))
        reply = self._ops.submit_run(run)
        try:
            await wait_future(reply)
        except BaseException:
            subscription.close()
            raise
        async for event in subscription:
            yield event.event, event.decoded()


class AsyncClient:
    """`system.aio`: the async face of the embedded system."""

    def __init__(self, ops: Operations) -> None:
        self.threads = AsyncThreads(ops)
        self.runs = AsyncRuns(ops)
