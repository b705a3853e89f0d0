"""Assistants: one default assistant per configured graph."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from ..http import JSONResponse, decode_body
from ..schemas import AssistantSearch


async def search(request: Request) -> JSONResponse:
    query = await decode_body(request, AssistantSearch, optional=True)
    assistants = request.app.state.system.ops.search_assistants(query.graph_id, query.metadata, query.limit, query.offset)
    return JSONResponse(assistants)


async def get(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.system.ops.get_assistant(request.path_params["assistant_id"]))


routes = [
    Route("/assistants/search", search, methods=["POST"]),
    Route("/assistants/{assistant_id}", get, methods=["GET"]),
]
