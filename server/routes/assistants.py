"""Assistants: create, read, patch (new version), delete, search, count, versions, graph, schemas."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.models import Assistant

from ..headers import configurable_headers
from ..http import JSONResponse, decode_body, door, page, path_id, query_bool, uuid_field
from ..openapi import responds
from ..schemas import AssistantCount, AssistantCreate, AssistantLatest, AssistantPatch, AssistantSearch, AssistantVersions
from ..routing import Access, Route


def _ops(request: Request):
    return request.app.state.system.ops


def _assistant_id(request: Request) -> str:
    """A UUID, or a graph id standing for that graph's default assistant."""
    value = request.path_params["assistant_id"]
    return value if value in request.app.state.system.graph_ids else path_id(request, "assistant_id")


def _fields(body: msgspec.Struct) -> dict:
    return {k: v for k, v in msgspec.structs.asdict(body).items() if v is not None}


@responds(Assistant, also=(409,))
async def create(request: Request) -> JSONResponse:
    body = await decode_body(request, AssistantCreate)
    if body.assistant_id is not None:
        body.assistant_id = uuid_field("assistant_id", body.assistant_id)
    fields = _fields(body)
    return JSONResponse(await door(request).call(_ops(request).create_assistant, fields.pop("graph_id"), **fields))


@responds(Assistant, selectable=True)
async def search(request: Request) -> JSONResponse:
    query = await decode_body(request, AssistantSearch, optional=True)
    ops = _ops(request)
    found = await door(request).call(
        ops.search_assistants,
        query.graph_id, query.metadata, query.limit + 1, query.offset,
        name=query.name, sort_by=query.sort_by, sort_order=query.sort_order,
    )
    return page(found, query.offset, query.limit, query.select, of=Assistant)


@responds(int)
async def count(request: Request) -> JSONResponse:
    query = await decode_body(request, AssistantCount, optional=True)
    return JSONResponse(await door(request).call(_ops(request).count_assistants, query.graph_id, query.metadata, query.name))


@responds(Assistant)
async def get(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(_ops(request).get_assistant, _assistant_id(request)))


@responds(Assistant)
async def patch(request: Request) -> JSONResponse:
    body = await decode_body(request, AssistantPatch, optional=True)
    return JSONResponse(await door(request).call(_ops(request).update_assistant, _assistant_id(request), **_fields(body)))


@responds(status=204, query={"delete_threads": bool})
async def delete(request: Request) -> Response:
    await door(request).call(_ops(request).delete_assistant, _assistant_id(request), delete_threads=query_bool(request, "delete_threads"))
    return Response(status_code=204)


@responds(list[Assistant])
async def versions(request: Request) -> JSONResponse:
    query = await decode_body(request, AssistantVersions, optional=True)
    found = door(request).call(_ops(request).list_assistant_versions, _assistant_id(request), query.metadata, query.limit, query.offset)
    return JSONResponse(await found)


@responds(Assistant)
async def set_latest(request: Request) -> JSONResponse:
    body = await decode_body(request, AssistantLatest)
    return JSONResponse(await door(request).call(_ops(request).set_latest_assistant_version, _assistant_id(request), body.version))


@responds(dict[str, Any], query={"xray": bool | Annotated[int, msgspec.Meta(ge=0)]})
async def graph(request: Request) -> JSONResponse:
    raw = request.query_params.get("xray", "false")
    xray: bool | int = int(raw) if raw.isdigit() else query_bool(request, "xray")
    return JSONResponse(await door(request).call(_ops(request).assistant_graph, _assistant_id(request), xray, configurable_headers(request)))


@responds(dict[str, Any])
async def schemas(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(_ops(request).assistant_schemas, _assistant_id(request), configurable_headers(request)))


@responds(dict[str, Any], query={"recurse": bool})
async def subgraphs(request: Request) -> JSONResponse:
    namespace = request.path_params.get("namespace")
    found = door(request).call(
        _ops(request).assistant_subgraphs, _assistant_id(request), namespace, query_bool(request, "recurse"),
        configurable_headers(request),
    )
    return JSONResponse(await found)


routes = [
    Route("/assistants", create, methods=["POST"], auth=Access("assistants", "create", "create")),
    Route("/assistants/search", search, methods=["POST"], auth=Access("assistants", "search", "search")),
    Route("/assistants/count", count, methods=["POST"], auth=Access("assistants", "search", "count")),
    Route("/assistants/{assistant_id}", get, methods=["GET"], auth=Access("assistants", "read", "object")),
    Route("/assistants/{assistant_id}", patch, methods=["PATCH"], auth=Access("assistants", "update", "object")),
    Route("/assistants/{assistant_id}", delete, methods=["DELETE"], auth=Access("assistants", "delete", "object")),
    Route("/assistants/{assistant_id}/versions", versions, methods=["POST"], auth=Access("assistants", "read", "object")),
    Route("/assistants/{assistant_id}/latest", set_latest, methods=["POST"], auth=Access("assistants", "update", "object")),
    Route("/assistants/{assistant_id}/graph", graph, methods=["GET"], auth=Access("assistants", "read", "object")),
    Route("/assistants/{assistant_id}/schemas", schemas, methods=["GET"], auth=Access("assistants", "read", "object")),
    Route("/assistants/{assistant_id}/subgraphs", subgraphs, methods=["GET"], auth=Access("assistants", "read", "object")),
    Route("/assistants/{assistant_id}/subgraphs/{namespace:path}", subgraphs, methods=["GET"], auth=Access("assistants", "read", "object")),
]
