"""The OpenAPI document, built from the app's own route table so it cannot drift from what is served.

Per route: the summary is the handler's docstring (or name), the tag its module, the request body
the msgspec type the handler decodes (found among the names the handler, or a helper it calls,
uses), and the responses what the handler declares with `@responds(...)`: its success status and
schema, its query parameters, the statuses only it can answer (409, ...). What follows from the
route itself is added to every operation that can meet it:

| status | when |
|---|---|
| 400 | the route reads a JSON body (malformed JSON) |
| 404 | a path names a resource |
| 413 | the route reads a body (the request size limit) |
| 422 | anything the route reads: path, query, body |
| 401, 403 | auth is on |
| 501 | a route of the reference server switchboard does not serve |
| 503 | the route needs storage (database away: docs/storage.md, "Faults") |

Id path parameters are `format: uuid` (an assistant id may also be a served graph id); path
templates carry no Starlette converters (`{namespace:path}` is `{namespace}`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.routing import Route

CONVERTER = re.compile(r"{([^}:]+):[^}]+}")
PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
NO_STORAGE = ("system", "metrics", "meta")
"""Route modules whose routes never touch storage (no 503)."""
REASONS = {
    200: "Success", 202: "Accepted", 204: "No Content", 400: "Malformed JSON", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Request Too Large", 422: "Validation Error",
    501: "Not Implemented", 503: "Storage Unavailable",
}


class Responds(msgspec.Struct, frozen=True, kw_only=True):
    success: Any = None
    """A type msgspec renders (a Struct, `list[Thread]`, `int`), a JSON Schema dict, or None: no body."""
    status: int = 200
    also: tuple[int, ...] = ()
    """Statuses only this route answers (409, 202, ...), beyond those the route's shape implies."""
    query: dict[str, Any] = msgspec.field(default_factory=dict)
    """Query parameters: name -> type (or JSON Schema dict)."""
    required_query: tuple[str, ...] = ()
    media_type: str | tuple[str, ...] = "application/json"
    """The success body's media type, or several (the same schema for each)."""
    selectable: bool = False
    """Search results: `success` is the item type, and items keep only the `select`ed fields."""


def responds(success: Any = None, *, status: int = 200, also: tuple[int, ...] = (), query: dict[str, Any] | None = None,
             required_query: tuple[str, ...] = (), media_type: str | tuple[str, ...] = "application/json",
             selectable: bool = False) -> Callable[[Any], Any]:
    """Declare what a route handler answers, for the OpenAPI document (see the module docstring)."""
    declared = Responds(success=success, status=status, also=also, query=query or {}, required_query=required_query,
                        media_type=media_type, selectable=selectable)

    def mark(endpoint: Any) -> Any:
        endpoint.responds = declared
        return endpoint

    return mark


class HealthResponse(msgspec.Struct):
    ok: bool
    services: dict[str, str]


class StoreItem(msgspec.Struct):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: str
    updated_at: str


class StoreItems(msgspec.Struct):
    items: list[StoreItem]


class StoreNamespaces(msgspec.Struct):
    namespaces: list[list[str]]


class PruneResult(msgspec.Struct):
    pruned_count: int


ERROR = {"$ref": "#/components/responses/Error"}
SSE = {"description": "Server-sent events: `event:` and `data:` (JSON) lines (docs/api.md, Streaming)."}


def _body_types(endpoint: Any) -> list[type]:
    """msgspec Structs named in the handler (or in a module-level helper it calls)."""
    found: list[type] = []
    seen: set[Any] = set()

    def scan(fn: Any, depth: int) -> None:
        code = getattr(fn, "__code__", None)
        if code is None or fn in seen:
            return
        seen.add(fn)
        for name in code.co_names:
            value = fn.__globals__.get(name)
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value not in found:
                if value.__module__.startswith(("server.", "actors.")) and "decode_body" in code.co_names:
                    found.append(value)
            elif depth > 0 and inspect.isfunction(value) and value.__module__.startswith("server."):
                scan(value, depth - 1)

    scan(endpoint, 1)
    return found


def _body_optional(endpoint: Any) -> bool:
    """Whether the handler (or its helper) decodes its body with `optional=True` (empty is `{}`):
    the keyword shows up among the code's constants as the tuple of keyword names."""
    codes = [endpoint.__code__] + [
        value.__code__ for name in endpoint.__code__.co_names
        if inspect.isfunction(value := endpoint.__globals__.get(name)) and value.__module__.startswith("server.routes")
    ]
    return any(("optional",) == const or (isinstance(const, tuple) and "optional" in const) for code in codes for const in code.co_consts)


def _summary(endpoint: Any) -> str:
    doc = inspect.getdoc(endpoint)
    if doc:
        return doc.splitlines()[0]
    module = endpoint.__module__.rsplit(".", 1)[-1]
    return f"{module.capitalize()}: {endpoint.__name__.replace('_', ' ').strip()}"


class _Schemas:
    """Collects the types the document names and renders them once, as components."""

    def __init__(self) -> None:
        self.types: list[Any] = []

    def of(self, value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.types.append(value)
        return {"$type": len(self.types) - 1}

    def render(self, document: Any) -> dict[str, Any]:
        schemas, components = msgspec.json.schema_components(self.types, ref_template="#/components/schemas/{name}")

        def resolve(node: Any) -> Any:
            if isinstance(node, dict):
                if set(node) == {"$type"}:
                    return schemas[node["$type"]]
                return {k: resolve(v) for k, v in node.items()}
            if isinstance(node, list):
                return [resolve(v) for v in node]
            return node

        return {"document": resolve(document), "components": components}


def _path_parameter(name: str, graph_ids: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if name == "assistant_id":
        schema = {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "enum": graph_ids}]}
    elif name.endswith("_id"):
        schema = {"type": "string", "format": "uuid"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def build_openapi(app: Any, version: str, graph_ids: list[str]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas = _Schemas()
    auth_on = getattr(app.state, "auth", None) is not None
    for route in app.routes:
        if not isinstance(route, Route) or route.methods is None:  # not a route, or the Allow catch-all
            continue
        endpoint = route.endpoint
        module = endpoint.__module__.rsplit(".", 1)[-1]
        unsupported = endpoint.__name__ == "not_supported"
        tag = "Not supported" if unsupported else "System" if module in NO_STORAGE else module.capitalize()
        declared: Responds = getattr(endpoint, "responds", None) or Responds()
        names = PATH_PARAM.findall(route.path)
        bodies = _body_types(endpoint)
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            body = bodies[0] if bodies and method != "GET" else None  # GET history reads the query
            # A route that serves GET too reads its query there (history: GET query, POST body).
            query = dict(declared.query) if method == "GET" or "GET" not in (route.methods or ()) else {}
            parameters = [_path_parameter(name, graph_ids) for name in names] + [
                {"name": name, "in": "query", "required": name in declared.required_query, "schema": schemas.of(kind)}
                for name, kind in query.items()
            ]
            responses: dict[str, Any] = {}
            if unsupported:
                responses["501"] = {"description": REASONS[501], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
            else:
                responses[str(declared.status)] = _success(declared, schemas)
                statuses = set(declared.also)
                if body is not None:
                    statuses |= {400, 413, 422}
                if names and any(n.endswith("_id") for n in names):
                    statuses |= {404, 422}
                if query or names:
                    statuses.add(422)
                if auth_on and module not in NO_STORAGE:
                    statuses |= {401, 403}
                if module not in NO_STORAGE:
                    statuses.add(503)
                for status in sorted(statuses - {declared.status}):
                    responses[str(status)] = _error(status)
            operation: dict[str, Any] = {
                "tags": [tag],
                "summary": _summary(endpoint),
                "operationId": f"{module}_{endpoint.__name__}_{method.lower()}",
                "parameters": parameters,
                "responses": responses,
            }
            if body is not None:
                operation["requestBody"] = {
                    "required": not _body_optional(endpoint),
                    "content": {"application/json": {"schema": schemas.of(body)}},
                }
            paths.setdefault(CONVERTER.sub(r"{\1}", route.path), {})[method.lower()] = operation
    rendered = schemas.render(paths)
    components = rendered["components"]
    components["ErrorResponse"] = {
        "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "switchboard",
            "version": version,
            "description": "A LangGraph Platform API server built as an actor system. See docs/api.md.",
        },
        "paths": rendered["document"],
        "components": {
            "schemas": components,
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                }
            },
        },
    }


def _success(declared: Responds, schemas: _Schemas) -> dict[str, Any]:
    response: dict[str, Any] = {"description": REASONS.get(declared.status, "Success")}
    if declared.success is None:
        return response
    if declared.media_type == "text/event-stream":
        response["content"] = {"text/event-stream": {"schema": SSE}}
        return response
    schema = schemas.of(declared.success)
    if declared.selectable:  # `success` is the item type; with `select`, items keep only the fields named
        partial = {"type": "object", "description": "the fields named in `select`"}
        schema = {"type": "array", "items": {"anyOf": [schema, partial]}}
    media_types = (declared.media_type,) if isinstance(declared.media_type, str) else declared.media_type
    response["content"] = {media_type: {"schema": schema} for media_type in media_types}
    return response


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": REASONS.get(status, "Error"),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    if status == 503:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}}
    return response
