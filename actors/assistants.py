"""Assistant operations: create, read, patch (a new version), delete, search, count, versions, and
what a graph looks like (drawable graph, JSON schemas, subgraphs).

Every change of an assistant is recorded as a version; `set_latest` makes an earlier one current.
Graph introspection runs on the graph loop: callers get a `concurrent.futures.Future`.
"""

from __future__ import annotations

import concurrent.futures
from datetime import datetime
from typing import Any

import msgspec
from langgraph.channels.base import BaseChannel

from .context import SystemContext
from .config.filters import matches_metadata
from .errors import BadRequest, Conflict, InvalidInput, NotFound
from .models import Assistant, graph_assistant_id, new_id, now
from .runs.options import BOTH_CONFIGURABLE_AND_CONTEXT
from .kernel.replies import all_done, done

ASSISTANT_SORT_KEYS = ("assistant_id", "graph_id", "name", "created_at", "updated_at")


def sort_records(records: list[Any], sort_by: str | None, sort_order: str | None, default: str) -> list[Any]:
    key = sort_by or default
    reverse = (sort_order or "desc") == "desc"
    return sorted(records, key=lambda r: (getattr(r, key) is None, getattr(r, key)), reverse=reverse)


class AssistantOperations:
    ctx: SystemContext

    # --- records ---------------------------------------------------------------------------------

    def get_assistant(self, assistant_id: str) -> Assistant:
        assistant = self.ctx.storage.get_assistant(assistant_id)
        if assistant is None and assistant_id in self.ctx.graphs.ids:
            assistant = self.ctx.storage.get_assistant(graph_assistant_id(assistant_id))
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found.")
        return assistant

    def create_assistant(
        self,
        graph_id: str,
        *,
        assistant_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        if_exists: str = "raise",
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        self._check_graph(graph_id)
        if if_exists not in ("raise", "do_nothing"):
            raise InvalidInput(f"if_exists: {if_exists!r} is not one of ['raise', 'do_nothing']")
        assistant_id = assistant_id or new_id()
        existing = self.ctx.storage.get_assistant(assistant_id)
        if existing is not None:
            if if_exists == "do_nothing":
                return existing
            raise Conflict(f"Assistant {assistant_id} already exists.")
        config, context = mirrored(config or {}, context or {})
        assistant = Assistant(
            assistant_id=assistant_id,
            graph_id=graph_id,
            name=name or "Untitled",
            description=description,
            config=config,
            context=context,
            metadata=dict(metadata or {}),
        )
        self.ctx.storage.put_assistant(assistant)
        self.ctx.storage.put_assistant_version(assistant)
        return assistant

    def update_assistant(
        self,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        """A new version: given fields replace the current ones (metadata is merged)."""
        current = self.get_assistant(assistant_id)
        if graph_id is not None:
            self._check_graph(graph_id)
        versions = self._versions(current)
        latest = max([v.version for v in versions] + [current.version])
        changes: dict[str, Any] = {"version": latest + 1, "updated_at": now()}
        if graph_id is not None:
            changes["graph_id"] = graph_id
        if config is not None or context is not None:
            given_config, given_context = mirrored(config or {}, context or {})
            if config is not None or given_config.get("configurable"):
                changes["config"] = given_config
            if context is not None or given_context:
                changes["context"] = given_context
        if metadata is not None:
            changes["metadata"] = {**current.metadata, **metadata}
        if name is not None:
            changes["name"] = name
        if description is not None:
            changes["description"] = description
        updated = msgspec.structs.replace(current, **changes)
        self.ctx.storage.put_assistant_version(msgspec.structs.replace(updated, created_at=changes["updated_at"]))
        self.ctx.storage.put_assistant(updated)
        return updated

    def delete_assistant(self, assistant_id: str, *, delete_threads: bool = False) -> concurrent.futures.Future[None]:
        """Delete the assistant and its versions; with `delete_threads`, also the threads it ran on
        (their runs are cancelled first, as any thread deletion). The reply comes once all are gone."""
        assistant = self.get_assistant(assistant_id)
        self.ctx.storage.delete_assistant(assistant.assistant_id)
        if not delete_threads:
            return done(None)
        doomed = [t.thread_id for t in self.ctx.storage.list_threads() if t.metadata.get("assistant_id") == assistant.assistant_id]
        return all_done([self.delete_thread(t) for t in doomed], lambda: None, ignore=NotFound)

    def delete_thread(self, thread_id: str) -> concurrent.futures.Future[None]: ...  # provided by Operations

    def search_assistants(
        self,
        graph_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        *,
        name: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
    ) -> list[Assistant]:
        found = self._filter_assistants(graph_id, metadata, name)
        return sort_records(found, sort_by, sort_order, "created_at")[offset : offset + limit]

    def count_assistants(
        self, graph_id: str | None = None, metadata: dict[str, Any] | None = None, name: str | None = None
    ) -> int:
        return len(self._filter_assistants(graph_id, metadata, name))

    def _filter_assistants(self, graph_id: str | None, metadata: dict[str, Any] | None, name: str | None) -> list[Assistant]:
        return [
            a
            for a in self.ctx.storage.list_assistants()
            if (graph_id is None or a.graph_id == graph_id)
            and (name is None or name.lower() in a.name.lower())
            and matches_metadata(a.metadata, metadata)
        ]

    # --- versions --------------------------------------------------------------------------------

    def list_assistant_versions(
        self, assistant_id: str, metadata: dict[str, Any] | None = None, limit: int = 10, offset: int = 0
    ) -> list[dict[str, Any]]:
        assistant = self.get_assistant(assistant_id)
        versions = [v for v in self._versions(assistant) if matches_metadata(v.metadata, metadata)]
        versions.sort(key=lambda v: v.version, reverse=True)
        return [_version_record(v) for v in versions[offset : offset + limit]]

    def set_latest_assistant_version(self, assistant_id: str, version: int) -> Assistant:
        assistant = self.get_assistant(assistant_id)
        for candidate in self._versions(assistant):
            if candidate.version == version:
                latest = msgspec.structs.replace(candidate, created_at=assistant.created_at, updated_at=now())
                self.ctx.storage.put_assistant(latest)
                return latest
        raise NotFound(f"Assistant {assistant.assistant_id} has no version {version}.")

    # --- the graph behind it ---------------------------------------------------------------------

    def _open_graph(self, assistant: Assistant, headers: dict[str, str] | None) -> Any:
        """The assistant's graph for introspection: a factory gets the assistant's config (plus the
        request's configurable headers), as on the reference."""
        config = dict(assistant.config)
        config["configurable"] = {**(config.get("configurable") or {}), **(headers or {})}
        return self.ctx.graphs.open(assistant.graph_id, config, "assistants.read")

    def assistant_graph(
        self, assistant_id: str, xray: bool | int = False, headers: dict[str, str] | None = None
    ) -> concurrent.futures.Future[dict[str, Any]]:
        assistant = self.get_assistant(assistant_id)

        async def draw() -> dict[str, Any]:
            async with self._open_graph(assistant, headers) as graph:
                drawable = await graph.aget_graph(xray=xray)
            return _drawn(drawable.to_json())

        return self.ctx.runtime.submit(draw())

    def assistant_schemas(
        self, assistant_id: str, headers: dict[str, str] | None = None
    ) -> concurrent.futures.Future[dict[str, Any]]:
        assistant = self.get_assistant(assistant_id)

        async def schemas() -> dict[str, Any]:
            async with self._open_graph(assistant, headers) as graph:
                return graph_schemas(assistant.graph_id, graph)

        return self.ctx.runtime.submit(schemas())

    def assistant_subgraphs(
        self, assistant_id: str, namespace: str | None = None, recurse: bool = False, headers: dict[str, str] | None = None
    ) -> concurrent.futures.Future[dict[str, Any]]:
        assistant = self.get_assistant(assistant_id)

        async def subgraphs() -> dict[str, Any]:
            found = {}
            async with self._open_graph(assistant, headers) as graph:
                async for ns, subgraph in graph.aget_subgraphs(namespace=namespace, recurse=recurse):
                    found[ns] = graph_schemas(None, subgraph)
            return found

        return self.ctx.runtime.submit(subgraphs())

    def _versions(self, assistant: Assistant) -> list[Assistant]:
        """Every recorded version; an assistant made before versions were kept has its first."""
        versions = self.ctx.storage.list_assistant_versions(assistant.assistant_id)
        if not versions:
            self.ctx.storage.put_assistant_version(assistant)
            versions = [assistant]
        return versions

    def _check_graph(self, graph_id: str) -> None:
        if graph_id not in self.ctx.graphs.ids:
            raise InvalidInput(f"graph_id: {graph_id!r} is not a registered graph; known graphs: {self.ctx.graphs.ids}")


def mirrored(config: dict[str, Any], context: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`config.configurable` and `context` kept equal, as the reference keeps them: whichever is
    given is copied to the other; both at once is refused (400, the reference's answer)."""
    config = dict(config)
    if config.get("configurable") and context:
        raise BadRequest(BOTH_CONFIGURABLE_AND_CONTEXT)
    if config.get("configurable"):
        return config, dict(config["configurable"])
    if context:
        config["configurable"] = dict(context)
    return config, dict(context)


def _version_record(assistant: Assistant) -> dict[str, Any]:
    record = msgspec.to_builtins(assistant, builtin_types=(datetime,))  # times as every record's (serde.reference_times)
    record.pop("updated_at", None)
    return record


def _schema(make: Any) -> dict[str, Any] | None:
    try:
        return make()
    except Exception:  # noqa: BLE001 - a graph without that schema: the reference answers null too
        return None


# Keys of `configurable` the server itself fills in: not part of a graph's config schema.
_SERVER_CONFIGURABLE = ("__pregel_checkpointer", "__pregel_store", "checkpoint_id", "checkpoint_ns", "thread_id")


def configurable_schema(graph: Any) -> dict[str, Any]:
    """The JSON schema of the `configurable` part of the graph's config, as the reference returns
    it (not the whole RunnableConfig model): titled after the graph's config type, if any."""
    from pydantic import TypeAdapter

    fields = getattr(graph.config_schema(), "model_fields", None) or {}
    if "configurable" not in fields:
        return {}
    schema = TypeAdapter(fields["configurable"].annotation).json_schema()
    for key in _SERVER_CONFIGURABLE:
        schema.get("properties", {}).pop(key, None)
    config_type = getattr(graph, "config_type", None)
    if config_type is not None and hasattr(config_type, "__name__"):
        schema["title"] = config_type.__name__
    return schema


def state_schema(graph: Any, name: str | None) -> dict[str, Any] | None:
    """The JSON schema of a graph's state as the reference writes it: a model of the state's
    channels, each optional (`default: null`), titled `<graph>_state` (a subgraph, which has no id
    of its own: after its name, `LangGraphState`). None for a graph without a state schema."""
    from pydantic import TypeAdapter, create_model

    builder = getattr(graph, "builder", None)
    declared = getattr(builder, "state_schema", None)
    if declared is None:
        return None
    keys = builder.schemas.get(declared, {}) if hasattr(builder, "schemas") else {}
    fields = {k: (graph.channels[k].ValueType, None) for k in keys if isinstance(graph.channels.get(k), BaseChannel)}
    try:
        return create_model(graph.get_name("State", name=name), **fields).model_json_schema()  # type: ignore[call-overload]
    except Exception:  # noqa: BLE001 - a key pydantic cannot name a field: the declared schema
        return TypeAdapter(declared).json_schema()


def graph_schemas(graph_id: str | None, graph: Any) -> dict[str, Any]:
    """The JSON schemas of a compiled graph, in the reference's `GraphSchema` shape; a subgraph's
    (no `graph_id`) without the `graph_id` key, as there."""
    schemas = {"graph_id": graph_id} if graph_id is not None else {}
    return {
        **schemas,
        "input_schema": _schema(graph.get_input_jsonschema),
        "output_schema": _schema(graph.get_output_jsonschema),
        "state_schema": _schema(lambda: state_schema(graph, graph_id)),
        "config_schema": _schema(lambda: configurable_schema(graph)),
        "context_schema": _schema(graph.get_context_jsonschema),
    }


def _drawn(drawable: dict[str, Any]) -> dict[str, Any]:
    """The drawable graph as the reference sends it: a runnable node's `data` is its `name` only,
    without the class path LangChain adds (`["langgraph", "_internal", ..., "RunnableCallable"]`)."""
    for node in drawable.get("nodes", []):
        if node.get("type") == "runnable" and isinstance(node.get("data"), dict):
            node["data"].pop("id", None)
    return drawable
