"""The embedded clients: the same names and arguments as `langgraph-sdk`'s clients, without HTTP.

`system.assistants` / `system.threads` / `system.runs` are synchronous (like `get_sync_client()`);
`system.aio.assistants` / `.threads` / `.runs` are coroutines (like `get_client()`). Records come back as
plain dicts, as the SDK returns them; stream parts as `(event, data)` tuples.

Each operation is written once, in a `*Calls` class, returning a value or a `concurrent.futures.Future`;
`_sync` and `_async` turn that class into the two faces, each through its door (`actors/door.py`,
which the HTTP routes use too): `SyncDoor` waits for the reply, `Door` keeps storage off the
caller's loop and awaits the reply without blocking it. A run's stream and wait are the doors'
`stream_run` / `wait_run`, the same sequences for HTTP, `system.aio` and the sync facade.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec

from .door import Door, SyncDoor
from .kernel import serde
from .models import on_the_wire
from .operations import Operations
from .kernel.runtime import wait_future


def _plain(value: Any) -> Any:
    value = on_the_wire(value)  # a run as the SDK would get it
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(serde.reference_times(value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class AssistantsCalls:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def get(self, assistant_id: str) -> Any:
        return self._ops.get_assistant(assistant_id)

    def create(self, graph_id: str, **fields: Any) -> Any:
        return self._ops.create_assistant(graph_id, **fields)

    def update(self, assistant_id: str, **fields: Any) -> Any:
        return self._ops.update_assistant(assistant_id, **fields)

    def delete(self, assistant_id: str, *, delete_threads: bool = False) -> Any:
        return self._ops.delete_assistant(assistant_id, delete_threads=delete_threads)

    def search(self, *, graph_id: str | None = None, metadata: dict[str, Any] | None = None, limit: int = 10, offset: int = 0) -> Any:
        return self._ops.search_assistants(graph_id, metadata, limit, offset)

    def count(self, *, graph_id: str | None = None, metadata: dict[str, Any] | None = None) -> Any:
        return self._ops.count_assistants(graph_id, metadata)

    def get_graph(self, assistant_id: str, *, xray: bool | int = False) -> Any:
        return self._ops.assistant_graph(assistant_id, xray)

    def get_schemas(self, assistant_id: str) -> Any:
        return self._ops.assistant_schemas(assistant_id)


class ThreadsCalls:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def create(self, *, thread_id: str | None = None, metadata: dict[str, Any] | None = None, if_exists: str = "raise") -> Any:
        return self._ops.create_thread(thread_id, metadata, if_exists)

    def get(self, thread_id: str) -> Any:
        return self._ops.get_thread(thread_id)

    def update(self, thread_id: str, *, metadata: dict[str, Any]) -> Any:
        return self._ops.update_thread(thread_id, metadata)

    def delete(self, thread_id: str) -> Any:
        return self._ops.delete_thread(thread_id)

    def search(self, *, metadata: dict[str, Any] | None = None, status: str | None = None, limit: int = 10, offset: int = 0) -> Any:
        return self._ops.search_threads(metadata, status, limit, offset)  # type: ignore[arg-type]

    def copy(self, thread_id: str) -> Any:
        return self._ops.copy_thread(thread_id)

    def get_state(self, thread_id: str, checkpoint: dict[str, Any] | None = None) -> Any:
        return self._ops.get_state(thread_id, checkpoint)

    def update_state(self, thread_id: str, values: Any, *, as_node: str | None = None, checkpoint: dict[str, Any] | None = None) -> Any:
        return self._ops.update_state(thread_id, values, as_node=as_node, checkpoint=checkpoint)

    def get_history(self, thread_id: str, *, limit: int = 10, before: Any = None, metadata: dict[str, Any] | None = None) -> Any:
        return self._ops.get_history(thread_id, limit=limit, before=before, metadata=metadata)


class RunsCalls:
    def __init__(self, ops: Operations) -> None:
        self._ops = ops

    def create(self, thread_id: str | None, assistant_id: str, **options: Any) -> Any:
        return self._ops.create_run(thread_id, assistant_id, **options)

    def get(self, thread_id: str, run_id: str) -> Any:
        return self._ops.get_run(thread_id, run_id)

    def list(self, thread_id: str, *, limit: int = 10, offset: int = 0, status: str | None = None) -> Any:
        return self._ops.list_runs(thread_id, limit, offset, status)

    def join(self, thread_id: str, run_id: str) -> Any:
        return self._ops.join_run(thread_id, run_id)

    def cancel(self, thread_id: str, run_id: str, *, wait: bool = False, action: str = "interrupt") -> Any:
        return self._ops.cancel_run(thread_id, run_id, wait=wait, action=action)  # type: ignore[arg-type]

    def delete(self, thread_id: str, run_id: str) -> Any:
        return self._ops.delete_run(thread_id, run_id)


def _public(calls: type) -> list[tuple[str, Callable[..., Any]]]:
    return [(name, fn) for name, fn in vars(calls).items() if inspect.isfunction(fn) and not name.startswith("_")]


def _sync(calls: type) -> type:
    """A class whose methods wait for each call's future (if any) and return plain values."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return _plain(self._door.call(fn, self, *args, **kwargs))

        return method

    def __init__(self: Any, door: SyncDoor) -> None:
        calls.__init__(self, door.ops)
        self._door = door

    methods = {n: wrap(f) for n, f in _public(calls)}
    return type(f"Sync{calls.__name__.removesuffix('Calls')}", (calls,), {"__init__": __init__, **methods})


def _async(calls: type) -> type:
    """A class whose methods are coroutines awaiting each call's future without blocking the loop."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return _plain(await self._door.call(fn, self, *args, **kwargs))

        return method

    def __init__(self: Any, door: Door) -> None:
        calls.__init__(self, door.ops)
        self._door = door

    methods = {n: wrap(f) for n, f in _public(calls)}
    return type(f"Async{calls.__name__.removesuffix('Calls')}", (calls,), {"__init__": __init__, **methods})


SyncAssistants = _sync(AssistantsCalls)
SyncThreads = _sync(ThreadsCalls)
AsyncAssistants = _async(AssistantsCalls)


class AsyncThreads(_async(ThreadsCalls)):  # type: ignore[misc]
    async def join_stream(self, thread_id: str, *, stream_mode: str | list[str] = "run_modes") -> AsyncIterator[tuple[str, Any]]:
        """Follow the thread from now on (`run_modes`, `lifecycle`, `state_update`), as `(event, data)`;
        ends when the thread is deleted."""
        modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
        async for event in await self._door.call(self._ops.follow_thread, thread_id, modes):
            yield event.event, event.decoded()


class SyncRuns(_sync(RunsCalls)):  # type: ignore[misc]
    def wait(self, thread_id: str | None, assistant_id: str, **options: Any) -> Any:
        """Create a run and wait for it: the thread's values after it. The waiter is registered
        when the run is accepted, so a stateless run's thread cannot be deleted under it."""
        _, output = self._door.wait_run(thread_id, assistant_id, **options)
        return _plain(output.result())

    def stream(self, thread_id: str | None, assistant_id: str, **options: Any) -> Iterator[tuple[str, Any]]:
        """Create a run and iterate its events; subscribed before the run can start."""
        _, subscription = self._door.stream_run(thread_id, assistant_id, **options)  # ThreadBusy etc. before any event
        for event in subscription:
            yield event.event, event.decoded()


class AsyncRuns(_async(RunsCalls)):  # type: ignore[misc]
    async def wait(self, thread_id: str | None, assistant_id: str, **options: Any) -> Any:
        """Create a run and wait for it: the thread's values after it (watched from acceptance on,
        as `POST /runs/wait`)."""
        _, output = await self._door.wait_run(thread_id, assistant_id, **options)
        return _plain(await wait_future(output))

    async def stream(self, thread_id: str | None, assistant_id: str, **options: Any) -> AsyncIterator[tuple[str, Any]]:
        """Create a run and iterate its events; subscribed before the run can start."""
        _, subscription = await self._door.stream_run(thread_id, assistant_id, **options)
        async for event in subscription:
            yield event.event, event.decoded()


class AsyncClient:
    """`system.aio`: the async face of the embedded system."""

    def __init__(self, door: Door) -> None:
        self.assistants = AsyncAssistants(door)
        self.threads = AsyncThreads(door)
        self.runs = AsyncRuns(door)
