"""Semantic search for the store: the `store.index` section of langgraph.json, as on the
reference server:

    {"store": {"index": {"embed": "./embeddings.py:embed", "dims": 26, "fields": ["text"]}}}

`embed` is a function (`list[str] -> list[list[float]]`, sync or async) named like a graph, or a
LangChain `"provider:model"` string (then LangChain and that provider's package must be installed).
With an index, `POST /store/items/search` ranks by similarity to `query` and gives each item a
`score`; graphs get the same indexed store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from langgraph.store.memory import InMemoryStore

from .graphs import GraphConfigError, read_config
from .loading import import_object, is_file_spec


def store_index_from_config(config_path: str | Path | None) -> dict[str, Any] | None:
    """The validated `store.index` of a langgraph.json, its `embed` function imported; None if absent."""
    if config_path is None:
        return None
    config_path = Path(config_path).resolve()
    store = read_config(config_path).get("store") or {}
    index = store.get("index") if isinstance(store, Mapping) else None
    if not index:
        return None
    if not isinstance(index, Mapping):
        raise GraphConfigError(f"{config_path}: store.index must be an object")
    dims, embed, fields = index.get("dims"), index.get("embed"), index.get("fields")
    if not isinstance(dims, int) or dims <= 0:
        raise GraphConfigError(f"{config_path}: store.index.dims must be a positive integer, got {dims!r}")
    if not isinstance(embed, str):
        raise GraphConfigError(f"{config_path}: store.index.embed must be './file.py:function' or 'provider:model'")
    if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
        raise GraphConfigError(f"{config_path}: store.index.fields must be a list of strings")
    if is_file_spec(embed):
        embed = import_object(embed, config_path.parent, "store.index.embed")
    config: dict[str, Any] = {"dims": dims, "embed": embed}
    if fields is not None:
        config["fields"] = fields
    return config


def with_index(store: Any, index: dict[str, Any]) -> Any:
    """The storage's store, made able to search by meaning (at start-up, before graphs bind it)."""
    if type(store) is InMemoryStore:
        try:
            return InMemoryStore(index=index)  # type: ignore[arg-type]
        except Exception as exc:  # e.g. a "provider:model" whose package is missing
            raise GraphConfigError(f"store.index: {exc}") from exc
    raise GraphConfigError(
        f"store.index is supported with the in-memory store (serve --storage memory), not {type(store).__name__}: "
        "this Python's sqlite3 cannot load the vector extension and the PostgreSQL server has no pgvector"
    )
