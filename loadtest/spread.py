"""Load on a cluster: several switchboard processes that are one server (one PostgreSQL database,
one Redis, one journal). `SpreadTarget` sends each request to the next server in turn; `ServerGroup`
starts N `switchboard serve` processes on one database for `switchboard loadtest --serve --processes N`.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from .targets import Gone, HttpTarget, Rejected, ServerProcess, _http_status, new_journal

T = TypeVar("T")


class SpreadTarget:
    """Several servers that are one cluster (one database, one journal): each request goes to the next
    server in turn, so one thread's runs, joins, streams and reads really cross processes.

    With `failover` (seconds, default 0: off) it behaves like a client behind a load balancer that
    notices a dead server: a request that never reached a server (connection refused) or that a
    server refused with 503 (draining, or its thread's owner is gone and not yet taken over) is sent
    again to the next one until `failover` seconds have passed; idempotent requests (join, reads) are
    also sent again after any connection error; a stream cut after its run was accepted is finished
    with a join. A run create whose connection broke mid-request is never resent (it may have been
    accepted): fault tests call `quiesce()` before they kill a server, so no create is in flight."""

    def __init__(self, targets: list[HttpTarget], name: str | None = None, failover: float = 0.0, affinity: bool = False) -> None:
        """`affinity`: a thread's requests all go to one server (chosen by its id), as a load balancer
        hashing the thread id would send them - the owner, once that server took the thread."""
        if not targets:
            raise ValueError("a spread target needs at least one server")
        self.targets = list(targets)
        self._all = list(targets)
        self.journal = targets[0].journal
        self.name = name or f"{len(targets)} servers"
        self.failover = failover
        self.affinity = affinity
        self._turn = 0
        self._creates = 0  # run creates in flight
        self._open: asyncio.Event | None = None  # made on the harness's loop
        self.retries = 0

    @property
    def url(self) -> str:
        return self.targets[0].url

    def _next(self, thread_id: str | None = None) -> HttpTarget:
        if self.affinity and thread_id is not None:
            return self.targets[zlib.crc32(thread_id.encode()) % len(self.targets)]
        target = self.targets[self._turn % len(self.targets)]
        self._turn += 1
        return target

    def remove(self, url: str) -> None:
        """Take a server out of the rotation (what a load balancer's health check does)."""
        self.targets = [t for t in self.targets if t.url != url] or self.targets

    async def quiesce(self, timeout: float = 30.0) -> None:
        """Hold new run creates and wait until none is in flight (until `reopen()`)."""
        self._gate().clear()
        deadline = time.monotonic() + timeout
        while self._creates:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self._creates} run creates still in flight after {timeout}s")
            await asyncio.sleep(0.001)

    def reopen(self) -> None:
        self._gate().set()

    def _gate(self) -> asyncio.Event:
        if self._open is None:
            self._open = asyncio.Event()
            self._open.set()
        return self._open

    def _may_retry(self, exc: BaseException, idempotent: bool, deadline: float) -> bool:
        if not self.failover or time.monotonic() > deadline or isinstance(exc, (Rejected, Gone)):
            return False
        status = _http_status(exc)
        if isinstance(exc, httpx.ConnectError) or status == 503:
            return True
        return idempotent and (isinstance(exc, httpx.TransportError) or status in (502, 504))

    async def _call(self, call: Callable[[HttpTarget], Awaitable[T]], idempotent: bool, thread_id: str | None = None) -> T:
        deadline = time.monotonic() + self.failover
        while True:
            try:
                return await call(self._next(thread_id))
            except Exception as exc:
                if not self._may_retry(exc, idempotent, deadline):
                    raise
                self.retries += 1
                await asyncio.sleep(0.05)  # a retry's pause (Retry-After, shortened): not synchronisation

    async def _create(self, call: Callable[[HttpTarget], Awaitable[T]], thread_id: str) -> T:
        await self._gate().wait()
        self._creates += 1
        try:
            return await self._call(call, idempotent=False, thread_id=thread_id)
        finally:
            self._creates -= 1

    async def create_thread(self) -> str:
        return await self._call(lambda t: t.create_thread(), idempotent=False)

    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str:
        return await self._create(lambda t: t.create_run(thread_id, strategy, input), thread_id)

    async def join(self, thread_id: str, run_id: str) -> Any:
        return await self._call(lambda t: t.join(thread_id, run_id), idempotent=True, thread_id=thread_id)

    async def stream_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        await self._streamed("stream_run", thread_id, strategy, input, on_created, on_event)

    async def v2_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        await self._streamed("v2_run", thread_id, strategy, input, on_created, on_event)

    async def _streamed(self, method: str, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        created: list[str] = []

        def on_run(run_id: str) -> None:
            created.append(run_id)
            on_created(run_id)

        await self._gate().wait()
        self._creates += 1
        deadline = time.monotonic() + self.failover
        try:
            while True:
                try:
                    return await getattr(self._next(thread_id), method)(thread_id, strategy, input, on_run, on_event)
                except Exception as exc:
                    if not created and self._may_retry(exc, False, deadline):
                        self.retries += 1
                        await asyncio.sleep(0.05)
                        continue
                    if not (created and self._may_retry(exc, True, deadline)):
                        raise
                    break
        finally:
            self._creates -= 1
        self.retries += 1
        await self.join(thread_id, created[0])  # the stream was cut after the run was accepted: read its end

    async def run_status(self, thread_id: str, run_id: str) -> str:
        return await self._call(lambda t: t.run_status(thread_id, run_id), idempotent=True, thread_id=thread_id)

    async def state_done(self, thread_id: str) -> list[str]:
        return await self._call(lambda t: t.state_done(thread_id), idempotent=True, thread_id=thread_id)

    async def aclose(self) -> None:
        for target in self._all:
            await target.aclose()


class ServerGroup:
    """N switchboard processes on one PostgreSQL database (a fresh schema: the runs stay in it) and one
    Redis, sharing one journal. The first starts alone (it creates the tables), then the others."""

    def __init__(self, processes: int, database_url: str | None, redis_url: str | None) -> None:
        if processes < 1:
            raise ValueError("--processes must be at least 1")
        if processes > 1 and not (database_url and redis_url):
            raise ValueError("--processes N > 1 needs --storage postgres --database-url and --redis-url (a cluster)")
        self.journal = new_journal()
        self.servers: list[ServerProcess] = []
        self._args = dict(processes=processes, database_url=database_url, redis_url=redis_url)

    def __enter__(self) -> ServerGroup:
        extra = ("--redis-url", self._args["redis_url"]) if self._args["redis_url"] else ()
        try:
            for index in range(self._args["processes"]):
                server = ServerProcess(
                    "switchboard", journal=self.journal, storage="postgres" if self._args["database_url"] else "memory",
                    database_url=self._args["database_url"], extra_args=extra,
                )
                self.servers.append(server)
                if index == 0:
                    server.wait_ready()
            for server in self.servers[1:]:
                server.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def target(self) -> SpreadTarget:
        return SpreadTarget([HttpTarget(s.url, self.journal, name="switchboard") for s in self.servers],
                            name=f"switchboard x{len(self.servers)}")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
