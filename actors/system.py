"""ActorSystem: the embedded facade. It wires storage, the graph loop, graphs and the thread-actor
registry together, creates one default assistant per graph, and exposes the clients.

    with ActorSystem.from_config("langgraph.json") as system:
        thread = system.threads.create()
        run = system.runs.create(thread["thread_id"], "agent", input={...})
        state = system.runs.join(thread["thread_id"], run["run_id"])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from pathlib import Path
from typing import Any

import msgspec
from langgraph.pregel import Pregel

from .clients import AsyncClient, SyncAssistants, SyncRuns, SyncThreads
from .context import SystemContext
from .runs.crons import CronScheduler
from .config.store_index import store_index_from_config, with_index
from .config.graphs import GraphRegistry, graph_descriptions, load_graphs
from .config.project import http_config, system_assistant_configs
from .models import Assistant, graph_assistant_id
from .operations import Operations
from .kernel.passivation import PassivationSweep
from .kernel.registry import ThreadRegistry
from .door import Door, SyncDoor
from .protocol_log import ProtocolLogs
from .kernel.runtime import GraphLoop
from .config.settings import Settings
from .runs.recovery import RecoveryReport, recover
from .runs.shutdown import DrainReport, drain
from .storage import Storage, open_storage
from .runs.thread import ThreadActor

log = logging.getLogger("switchboard")


class ActorSystem:
    def __init__(
        self,
        graphs: dict[str, Pregel] | None = None,
        *,
        settings: Settings | None = None,
        storage: Storage | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.settings = settings or Settings()
        if loop is not None and (storage is not None or self.settings.storage != "memory"):
            raise ValueError(
                "a system on the caller's loop keeps its records in memory: SQLite or PostgreSQL calls "
                "would block that loop (use a system with its own threads for those)"
            )
        if graphs is None:
            if self.settings.config_path is None:
                raise ValueError("give graphs, or settings.config_path naming a langgraph.json")
            graphs = load_graphs(self.settings.config_path)
        if self.settings.config_path is not None and http_config(self.settings.config_path).disable_webhooks:
            self.settings = msgspec.structs.replace(self.settings, send_webhooks=False)
        self.runtime = GraphLoop(self.settings.max_sync_workers, loop=loop)
        self.storage = self._open_storage(storage)
        registry = GraphRegistry(graphs, self.storage.checkpointer, self.storage.store)
        self.ctx = SystemContext(self.settings, self.storage, self.runtime, registry)
        if loop is not None:  # everything on the caller's loop: thread actors take turns there too
            self.ctx.actor_pool.shutdown()
            self.ctx.actor_pool = self.runtime  # type: ignore[assignment]
        self.ctx.registry = ThreadRegistry(
            lambda thread_id: ThreadActor.start(thread_id, self.ctx), self._claim if self.settings.cluster else None
        )
        self.passivation = PassivationSweep(self.ctx)
        self._create_default_assistants()
        self.ops = Operations(self.ctx)
        self.ctx.protocol = ProtocolLogs(
            follow=self.ctx.streams.follow,
            graph_of=lambda run_id: getattr(self.ctx.streams.get(run_id), "graph_id", None),
            run_status=self.ops.run_status,  # read on the publisher's thread (a thread actor's), never a loop
            call_later=self.runtime.call_later,
            max_events=self.settings.protocol_buffer_events,
            max_age=self.settings.protocol_buffer_seconds,
        )
        sync_door = SyncDoor(self.ops)
        self.assistants = SyncAssistants(sync_door)
        self.threads = SyncThreads(sync_door)
        self.runs = SyncRuns(sync_door)
        # Storage calls of async callers (HTTP, system.aio) run here, off their event loop: actors/door.py
        self.storage_executor = None if loop is not None else concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.actor_workers, thread_name_prefix="switchboard-storage"
        )
        self.door = Door(self.ops, self.storage_executor)
        self.aio = AsyncClient(self.door)
        self._stopped = False
        if self.settings.cluster:  # no global recovery: peers own their runs; takeover recovers ours
            self.recovery = RecoveryReport()
            self._join_cluster()
        else:
            self.recovery: RecoveryReport = recover(self.ctx)
        self.crons = CronScheduler(self.ctx, self.ops)
        self.crons.start()
        self.passivation.start()

    def _claim(self, thread_id: str) -> None:
        """Before a thread actor starts: in cluster mode the thread must be this process's
        (`OwnedElsewhere` if a live peer serves it)."""
        if self.ctx.cluster is not None:
            self.ctx.cluster.claim(thread_id)

    def _join_cluster(self) -> None:
        from .cluster.node import ClusterNode

        try:
            self.ctx.cluster = ClusterNode(self.ctx)
            self.ctx.cluster.takeover.follow_up = self.ops.follow_up_taken_over
            self.ctx.cluster.start()
        except BaseException:
            self.ctx.cluster = None
            self.shutdown()
            raise

    def _open_storage(self, given: Storage | None) -> Storage:
        """The given storage, or the backend the settings name (async parts on the graph loop); its
        store indexed if the langgraph.json asks for it. On failure nothing we opened is left open."""
        opened = None
        try:
            storage = given or (opened := open_storage(self.settings, self.runtime))
            index = store_index_from_config(self.settings.config_path)
            if index is not None:
                storage.store = with_index(storage.store, index)
            return storage
        except BaseException:
            if opened is not None:
                self.runtime.call(opened.aclose())
                opened.close()
            self.runtime.stop()
            raise

    @classmethod
    def on_running_loop(cls, graphs: dict[str, Pregel] | None = None, *, settings: Settings | None = None) -> ActorSystem:
        """A system that lives on the asyncio loop running now, with no threads of its own (sync
        graph nodes still run in an executor): thread actors, run actors and graphs all take turns
        on it, as LangGraph itself does when you `ainvoke` a graph. Records are kept in memory. Use
        `system.aio` and `await system.aclose()` (or `async with`) from that loop; the sync
        facade works from other threads only. Faster per run (no thread hand-offs), but a graph
        step that blocks the loop holds up every thread's requests, as it would hold up the app."""
        return cls(graphs, settings=settings, loop=asyncio.get_running_loop())

    @classmethod
    def from_config(cls, config_path: str | Path, **settings: Any) -> ActorSystem:
        return cls(settings=Settings(config_path=str(config_path), **settings))

    def _create_default_assistants(self) -> None:
        """One system assistant per graph, as the reference: named after the compiled graph (else
        the graph id), described by the langgraph.json entry, configured by `LANGGRAPH_CONFIG`
        (whose `configurable` is also its context). Name and description follow the config file
        across restarts; config does only for a new assistant."""
        descriptions = graph_descriptions(self.settings.config_path)
        configs = system_assistant_configs()
        for graph_id in self.ctx.graphs.ids:
            assistant_id = graph_assistant_id(graph_id)
            name = self.ctx.graphs.name(graph_id) or graph_id
            description = descriptions.get(graph_id)
            existing = self.storage.get_assistant(assistant_id)
            if existing is None:
                config = configs.get(graph_id) or {}
                self.storage.put_assistant(
                    Assistant(
                        assistant_id=assistant_id,
                        graph_id=graph_id,
                        name=name,
                        description=description,
                        config=config,
                        context=dict(config.get("configurable") or {}),
                        metadata={"created_by": "system"},
                    )
                )
            elif (existing.name, existing.description) != (name, description):
                self.storage.put_assistant(msgspec.structs.replace(existing, name=name, description=description))

    @property
    def graph_ids(self) -> list[str]:
        return self.ctx.graphs.ids

    def live_thread_actors(self) -> int:
        """How many thread actors are in memory now (idle ones are passivated)."""
        return self.ctx.registry.alive()

    def drain(self, grace: float | None = None) -> DrainReport:
        """Graceful stop, part one: refuse new runs (`ShuttingDown`), give running runs `grace`
        seconds (default `settings.shutdown_grace`), interrupt the rest and persist their status.
        Pending runs stay pending for the next start. Call `shutdown()` afterwards."""
        return drain(self.ctx, self.ops, self.settings.shutdown_grace if grace is None else grace)

    async def aclose(self) -> None:
        """Shut down from an asyncio loop: on the adopted loop itself, or (threaded system) from
        any loop, without blocking it."""
        if not self.runtime.adopted:
            await asyncio.to_thread(self.shutdown)
            return
        if self._stopped:
            return
        self._stop_accepting()
        try:
            await self.storage.aclose()
        except Exception:  # noqa: BLE001 - closing on the way out
            log.exception("closing storage connections failed")
        await self.runtime.astop()
        self.storage.close()

    async def __aenter__(self) -> ActorSystem:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def _stop_accepting(self) -> None:
        if getattr(self, "crons", None) is not None:
            self.crons.stop()
        self.passivation.stop()
        self._stopped = True
        self.ctx.draining = True
        for ref in self.ctx.registry.refs():
            ref.stop(block=False)

    def shutdown(self) -> None:
        if self.runtime.adopted:
            raise RuntimeError("this system lives on an asyncio loop: `await system.aclose()` there")
        if self._stopped:
            return
        self._stop_accepting()
        if self.ctx.cluster is not None:  # after the drain: every thread is released, peers take over
            self.ctx.cluster.close()
        try:
            self.runtime.call(self.storage.aclose(), timeout=10)
        except Exception:  # noqa: BLE001 - closing on the way out; the process may be ending anyway
            log.exception("closing storage connections failed")
        self.runtime.stop()  # run actors live on the loop: they go with it
        self.ctx.actor_pool.shutdown()
        if self.storage_executor is not None:
            self.storage_executor.shutdown(wait=True)
        self.storage.close()

    def __enter__(self) -> ActorSystem:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
