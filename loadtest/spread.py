"""Load on a cluster: several switchboard processes that are one server (one PostgreSQL database,
one Redis, one journal). `SpreadTarget` sends each request to the next server in turn; `ServerGroup`
starts N `switchboard serve` processes on one database for `switchboard loadtest --serve --processes N`.
"""

from __future__ import annotations

from typing import Any

from .targets import HttpTarget, ServerProcess, new_journal


class SpreadTarget:
    """Several servers that are one cluster (one database, one journal): each request goes to the next
    server in turn, so one thread's runs, joins, streams and reads really cross processes."""

    def __init__(self, targets: list[HttpTarget], name: str | None = None) -> None:
        if not targets:
            raise ValueError("a spread target needs at least one server")
        self.targets = targets
        self.journal = targets[0].journal
        self.name = name or f"{len(targets)} servers"
        self._turn = 0

    @property
    def url(self) -> str:
        return self.targets[0].url

    def _next(self) -> HttpTarget:
        target = self.targets[self._turn % len(self.targets)]
        self._turn += 1
        return target

    async def create_thread(self) -> str:
        return await self._next().create_thread()

    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str:
        return await self._next().create_run(thread_id, strategy, input)

    async def join(self, thread_id: str, run_id: str) -> Any:
        return await self._next().join(thread_id, run_id)

    async def stream_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        await self._next().stream_run(thread_id, strategy, input, on_created, on_event)

    async def v2_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        await self._next().v2_run(thread_id, strategy, input, on_created, on_event)

    async def run_status(self, thread_id: str, run_id: str) -> str:
        return await self._next().run_status(thread_id, run_id)

    async def state_done(self, thread_id: str) -> list[str]:
        return await self._next().state_done(thread_id)

    async def aclose(self) -> None:
        for target in self.targets:
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
