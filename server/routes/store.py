"""The long-term memory store: put, get, delete, search items; list namespaces.

It is the same LangGraph `BaseStore` the graphs receive (`storage.store`), so what a node writes
with `store.put(...)` a client reads here, and the other way round. Store calls run on the graph
loop, where the store lives (a database-backed store's connections belong to that loop).
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import msgspec
from langgraph.store.base import InvalidNamespaceError
from starlette.requests import Request
from starlette.responses import Response

from actors.errors import InvalidInput
from actors.kernel.runtime import wait_future

from ..http import JSONResponse, decode_body, query_bool
from ..openapi import StoreItem, StoreItems, StoreNamespaces, responds
from ..schemas import MAX_OFFSET, Limit, Offset
from ..routing import Access, Route


NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
MAX_TTL_MINUTES = 10 * 366 * 24 * 60.0
"""An item's `ttl` is at most ten years (in minutes, as the store counts it)."""


class StorePut(msgspec.Struct, kw_only=True):
    namespace: list[str]
    key: NonEmpty
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = None
    ttl: Annotated[float, msgspec.Meta(le=MAX_TTL_MINUTES)] | None = None


class StoreDelete(msgspec.Struct, kw_only=True):
    namespace: list[str] = msgspec.field(default_factory=list)
    key: NonEmpty


class StoreSearch(msgspec.Struct, kw_only=True):
    namespace_prefix: list[str] | None = None
    filter: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreListNamespaces(msgspec.Struct, kw_only=True):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: Annotated[int, msgspec.Meta(ge=1, le=MAX_OFFSET)] | None = None  # beyond: an integer overflow in the database
    limit: Limit = 100
    offset: Offset = 0


FILTER_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def _check_filter(filter: dict[str, Any] | None) -> None:
    """The operators the stores implement; another is a 422 here, not a ValueError from the store."""
    for field, condition in (filter or {}).items():
        if isinstance(condition, dict):
            unknown = sorted(op for op in condition if op.startswith("$") and op not in FILTER_OPERATORS)
            if unknown:
                raise InvalidInput(f"filter.{field}: unsupported operator {unknown[0]} (use one of {', '.join(FILTER_OPERATORS)})")


def _check_key(key: str) -> None:
    if not key:
        raise InvalidInput("key: must be a non-empty string")


async def _on_store_loop(request: Request, call: Coroutine[Any, Any, Any]) -> Any:
    """Run one store coroutine on the graph loop; the library's own validation names the field."""
    try:
        return await wait_future(request.app.state.system.runtime.submit(call))
    except InvalidNamespaceError as exc:
        raise InvalidInput(f"namespace: {exc}") from None
    except NotImplementedError as exc:  # e.g. `ttl` on a store without TTL support
        raise InvalidInput(str(exc)) from None


def _store(request: Request) -> Any:
    return request.app.state.system.storage.store


@responds(status=204)
async def put_item(request: Request) -> Response:
    body = await decode_body(request, StorePut)
    _check_key(body.key)
    if body.ttl is not None and body.ttl <= 0:
        raise InvalidInput(f"ttl: must be > 0 minutes, got {body.ttl}")
    if not body.namespace:
        raise InvalidInput("namespace: must not be empty")
    kwargs: dict[str, Any] = {"index": body.index}
    if body.ttl is not None:
        kwargs["ttl"] = body.ttl
    store = _store(request)
    await _on_store_loop(request, store.aput(tuple(body.namespace), body.key, body.value, **kwargs))
    return Response(status_code=204)


def _namespace_param(request: Request) -> tuple[str, ...]:
    """`?namespace=a.b` (what the SDKs send) or `?namespace=a&namespace=b` (the OpenAPI array form)."""
    values = request.query_params.getlist("namespace")
    if len(values) == 1:
        return tuple(label for label in values[0].split(".") if label != "")
    return tuple(values)


def _item_json(item: Any) -> dict[str, Any]:
    """An item with the reference's timestamps: UTC, microseconds, `+00:00`
    (`2026-12-02T01:35:58.841757+00:00`). The SQLite store keeps whole seconds and no zone: its
    times are UTC, so they get the zone and `.000000`."""
    found = item.dict()
    for key in ("created_at", "updated_at"):
        when = getattr(item, key, None)
        if isinstance(when, datetime):
            when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
            found[key] = when.isoformat(timespec="microseconds")
    return found


@responds(StoreItem | None, query={"key": NonEmpty, "namespace": list[str], "refresh_ttl": bool}, required_query=("key",))
async def get_item(request: Request) -> JSONResponse:
    key = request.query_params.get("key")
    if key is None:
        raise InvalidInput("key: query parameter is required")
    _check_key(key)
    refresh = query_bool(request, "refresh_ttl") if "refresh_ttl" in request.query_params else None
    store = _store(request)
    item = await _on_store_loop(request, store.aget(_namespace_param(request), key, refresh_ttl=refresh))
    # Like the reference server (and the JS SDK's `Item | null`): a missing item is `null`, not 404.
    return JSONResponse(_item_json(item) if item is not None else None)


@responds(status=204)
async def delete_item(request: Request) -> Response:
    body = await decode_body(request, StoreDelete)
    _check_key(body.key)
    store = _store(request)
    await _on_store_loop(request, store.adelete(tuple(body.namespace), body.key))
    return Response(status_code=204)


@responds(StoreItems)
async def search_items(request: Request) -> JSONResponse:
    body = await decode_body(request, StoreSearch, optional=True)
    _check_filter(body.filter)
    store = _store(request)
    items = await _on_store_loop(
        request,
        store.asearch(
            tuple(body.namespace_prefix or ()),
            query=body.query,
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
            refresh_ttl=body.refresh_ttl,
        ),
    )
    return JSONResponse({"items": [_item_json(item) for item in items]})


@responds(StoreNamespaces)
async def list_namespaces(request: Request) -> JSONResponse:
    body = await decode_body(request, StoreListNamespaces, optional=True)
    store = _store(request)
    namespaces = await _on_store_loop(
        request,
        store.alist_namespaces(
            prefix=tuple(body.prefix) if body.prefix else None,
            suffix=tuple(body.suffix) if body.suffix else None,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
        ),
    )
    return JSONResponse({"namespaces": [list(ns) for ns in namespaces]})


routes = [
    Route("/store/items", put_item, methods=["PUT"], auth=Access("store", "put", "store")),
    Route("/store/items", get_item, methods=["GET"], auth=Access("store", "get", "store")),
    Route("/store/items", delete_item, methods=["DELETE"], auth=Access("store", "delete", "store")),
    Route("/store/items/search", search_items, methods=["POST"], auth=Access("store", "search", "store")),
    Route("/store/namespaces", list_namespaces, methods=["POST"], auth=Access("store", "list_namespaces", "store")),
]
