"""Loading the graphs named in a `langgraph.json` and binding them to the system's storage.

`{"dependencies": ["."], "graphs": {"agent": "./agent.py:graph", "other": "pkg.mod:make_graph"}}`:
paths are relative to the config file; `dependencies` entries become importable; an attribute may be
a compiled graph, an uncompiled `StateGraph`, or a function (sync or async, with or without a config
argument) returning either.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from .errors import InvalidInput


class GraphConfigError(Exception):
    """The config file or one of its graphs cannot be loaded."""


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GraphConfigError(f"config file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise GraphConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(config.get("graphs"), dict) or not config["graphs"]:
        raise GraphConfigError(f'{path}: needs a non-empty "graphs" object')
    return config


def load_graphs(config_path: str | Path) -> dict[str, Pregel]:
    """Import every graph of a langgraph.json file, returning {graph_id: compiled graph}."""
    config_path = Path(config_path).resolve()
    config = read_config(config_path)
    base = config_path.parent
    for dep in config.get("dependencies", []):
        dep_path = (base / dep).resolve()
        if dep_path.is_dir() and str(dep_path) not in sys.path:
            sys.path.insert(0, str(dep_path))
    return {graph_id: load_graph(spec, base) for graph_id, spec in config["graphs"].items()}


def load_graph(spec: str, base: Path) -> Pregel:
    from .loading import import_object  # loading imports GraphConfigError from here

    return _materialize(import_object(spec, base, "graph"), spec)


def _materialize(obj: Any, spec: str) -> Pregel:
    if isinstance(obj, Pregel):
        return obj
    if hasattr(obj, "compile") and not callable(getattr(obj, "invoke", None)):
        return obj.compile()
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        params = inspect.signature(obj).parameters
        result = obj({}) if params else obj()
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return _materialize(result, spec)
    raise GraphConfigError(f"{spec}: not a graph, a StateGraph, or a function returning one")


async def _await(awaitable: Any) -> Any:
    return await awaitable


class GraphRegistry:
    """Compiled graphs by graph id, bound to the system's checkpointer and store."""

    def __init__(self, graphs: dict[str, Pregel], checkpointer: Any, store: Any) -> None:
        self._graphs = {
            graph_id: graph.copy(update={"checkpointer": checkpointer, "store": store})
            for graph_id, graph in graphs.items()
        }

    @property
    def ids(self) -> list[str]:
        return list(self._graphs)

    def get(self, graph_id: str) -> Pregel:
        try:
            return self._graphs[graph_id]
        except KeyError:
            raise InvalidInput(f"graph {graph_id!r} is not registered; known graphs: {self.ids}") from None
