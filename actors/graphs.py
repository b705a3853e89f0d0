"""Loading the graphs named in a `langgraph.json` and binding them to the system's storage.

`{"dependencies": ["."], "graphs": {"agent": "./agent.py:graph", "other": {"path": "pkg.mod:make_graph",
"description": "..."}}}`: paths are relative to the config file; `dependencies` entries become
importable; `env` is applied first. An attribute may be a compiled graph, an uncompiled
`StateGraph`, or a **factory** (actors/factories.py): a function called each time the graph is
needed - for each run with that run's config, for state reads and for introspection - as the
reference server does.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from .errors import InvalidInput
from .factories import AccessContext, GraphFactory
from .project import GraphConfigError, apply_env, graph_description, graph_path, read_config

__all__ = ["GraphConfigError", "GraphRegistry", "load_graphs", "load_graph", "read_config"]

GraphValue = Pregel | GraphFactory


def load_graphs(config_path: str | Path) -> dict[str, GraphValue]:
    """Import every graph of a langgraph.json file: {graph_id: compiled graph or factory}."""
    config_path = Path(config_path).resolve()
    config = read_config(config_path)
    base = config_path.parent
    apply_env(config, base)
    for dep in config.get("dependencies", []):
        dep_path = (base / dep).resolve()
        if dep_path.is_dir() and str(dep_path) not in sys.path:
            sys.path.insert(0, str(dep_path))
    return {graph_id: load_graph(graph_path(spec), base) for graph_id, spec in config["graphs"].items()}


def graph_descriptions(config_path: str | Path | None) -> dict[str, str | None]:
    if config_path is None:
        return {}
    return {graph_id: graph_description(spec) for graph_id, spec in read_config(config_path)["graphs"].items()}


def load_graph(spec: str, base: Path) -> GraphValue:
    from .loading import import_object  # loading imports GraphConfigError from here

    return as_graph_value(import_object(spec, base, "graph"), spec)


def as_graph_value(obj: Any, spec: str) -> GraphValue:
    if isinstance(obj, (Pregel, GraphFactory)):
        return obj
    if hasattr(obj, "compile") and not callable(getattr(obj, "invoke", None)):
        return obj.compile()
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        try:
            return GraphFactory(obj)
        except TypeError as exc:
            raise GraphConfigError(f"{spec}: {exc}") from None
    raise GraphConfigError(f"{spec}: not a graph, a StateGraph, or a function returning one")


class GraphRegistry:
    """Graphs by graph id, bound to the system's checkpointer and store. A factory's graph is made
    (and bound) each time it is opened."""

    def __init__(self, graphs: dict[str, GraphValue | Callable[..., Any]], checkpointer: Any, store: Any) -> None:
        self.checkpointer, self.store = checkpointer, store
        self._graphs: dict[str, GraphValue] = {}
        for graph_id, graph in graphs.items():
            value = as_graph_value(graph, graph_id)
            self._graphs[graph_id] = value if isinstance(value, GraphFactory) else self._bind(value)

    def _bind(self, graph: Pregel) -> Pregel:
        return graph.copy(update={"checkpointer": self.checkpointer, "store": self.store})

    @property
    def ids(self) -> list[str]:
        return list(self._graphs)

    def is_factory(self, graph_id: str) -> bool:
        return isinstance(self._graphs.get(graph_id), GraphFactory)

    def name(self, graph_id: str) -> str | None:
        """The compiled graph's own name, when it has one besides LangGraph's default."""
        graph = self._graphs.get(graph_id)
        name = getattr(graph, "name", None) if isinstance(graph, Pregel) else None
        return name if name and name != "LangGraph" else None

    def source(self, graph_id: str) -> GraphSource:
        try:
            return GraphSource(self, graph_id, self._graphs[graph_id])
        except KeyError:
            raise InvalidInput(f"graph {graph_id!r} is not registered; known graphs: {self.ids}") from None

    def open(
        self, graph_id: str, config: dict[str, Any] | None = None, access: AccessContext = "threads.read", context: Any = None
    ) -> contextlib.AbstractAsyncContextManager[Pregel]:
        """`async with graphs.open(graph_id, config, access) as graph:` on the graph loop."""
        return self.source(graph_id).open(config, access, context)


class GraphSource:
    """One registered graph: a bound compiled graph, or a factory to call with a config."""

    def __init__(self, registry: GraphRegistry, graph_id: str, value: GraphValue) -> None:
        self.registry, self.graph_id, self.value = registry, graph_id, value

    def open(
        self, config: dict[str, Any] | None = None, access: AccessContext = "threads.read", context: Any = None
    ) -> contextlib.AbstractAsyncContextManager[Pregel]:
        if isinstance(self.value, GraphFactory):
            return self._made(config or {}, access, context)
        return _Ready(self.value)

    @contextlib.asynccontextmanager
    async def _made(self, config: dict[str, Any], access: AccessContext, context: Any) -> AsyncIterator[Pregel]:
        assert isinstance(self.value, GraphFactory)
        registry = self.registry
        async with self.value.make(config, access, registry.store, context) as graph:
            if not isinstance(graph, Pregel):
                raise InvalidInput(f"graph {self.graph_id!r}: its factory returned {type(graph).__name__}, not a graph")
            update: dict[str, Any] = {"checkpointer": registry.checkpointer, "store": registry.store}
            if graph.name == "LangGraph":
                update["name"] = self.graph_id
            yield graph.copy(update=update)


class _Ready(contextlib.AbstractAsyncContextManager):  # type: ignore[type-arg]
    """A graph that needs no making: no generator frame per run."""

    def __init__(self, graph: Pregel) -> None:
        self.graph = graph

    async def __aenter__(self) -> Pregel:
        return self.graph

    async def __aexit__(self, *exc: Any) -> None:
        return None
