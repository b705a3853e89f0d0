"""What every actor of one system shares: settings, storage, the graph loop, graphs, run streams,
run watchers and the thread registry. Actors read it; only messages change another actor's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InvalidInput, NotFound
from .config.graphs import GraphRegistry
from .models import Assistant, Run
from .kernel.registry import ThreadRegistry
from .kernel.dispatch import PoolDispatcher
from .kernel.runtime import GraphLoop
from .config.settings import Settings
from .storage import Storage
from .kernel.streams import StreamRegistry
from .runs.watchers import RunWatchers

if TYPE_CHECKING:
    from .protocol_log import ProtocolLogs


class SystemContext:
    def __init__(self, settings: Settings, storage: Storage, runtime: GraphLoop, graphs: GraphRegistry) -> None:
        self.settings = settings
        self.storage = storage
        self.runtime = runtime
        self.graphs = graphs
        self.actor_pool = PoolDispatcher(settings.actor_workers, "switchboard-thread-actor")
        """The workers thread actors take turns on (actors/kernel/dispatch.py)."""
        self.streams = StreamRegistry(settings.stream_keep_seconds, runtime.call_later)
        self.protocol: ProtocolLogs  # set by the system, which reads run statuses through its operations
        """Protocol v2 replay buffers, per thread (actors/protocol_log.py)."""
        self.watchers = RunWatchers(storage)
        self.registry: ThreadRegistry  # set by the system, which knows how to spawn thread actors
        self.cluster: Any = None
        """Cluster mode only: this process's `ClusterNode` (actors/cluster/node.py)."""
        self.draining = False
        """Set on graceful shutdown: no new runs are accepted or started (actors/runs/shutdown.py)."""

    def resolve_assistant(self, assistant_id: str) -> Assistant:
        """An assistant by UUID, or a graph id standing for that graph's default assistant."""
        assistant = self.storage.get_assistant(assistant_id)
        if assistant is None and assistant_id in self.graphs.ids:
            from .models import graph_assistant_id

            assistant = self.storage.get_assistant(graph_assistant_id(assistant_id))
        if assistant is None:
            raise InvalidInput(
                f"Invalid assistant: '{assistant_id}'. Must be either a valid assistant UUID, "
                f"or one of the registered graphs: {self.graphs.ids}"
            )
        return assistant

    def assistant_of(self, run: Run) -> Assistant:
        assistant = self.storage.get_assistant(run.assistant_id)
        if assistant is None:
            raise NotFound(f"assistant {run.assistant_id} of run {run.run_id} no longer exists")
        return assistant

    def tell_thread(self, thread_id: str, message: Any, *, spawn: bool = True) -> bool:
        return self.registry.tell(thread_id, message, spawn=spawn)
