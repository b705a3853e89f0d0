"""Threads: create, read, patch, delete, search, state."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.errors import InvalidInput
from actors.runtime import wait_future

from ..http import JSONResponse, decode_body, path_id
from ..schemas import ThreadCreate, ThreadPatch, ThreadSearch


def _ops(request: Request):
    return request.app.state.system.ops


async def create(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadCreate, optional=True)
    if body.thread_id is not None:
        import uuid

        try:
            body.thread_id = str(uuid.UUID(body.thread_id))
        except ValueError:
            raise InvalidInput(f"thread_id: {body.thread_id!r} is not a valid UUID") from None
    return JSONResponse(_ops(request).create_thread(body.thread_id, body.metadata, body.if_exists))


async def get(request: Request) -> JSONResponse:
    return JSONResponse(_ops(request).get_thread(path_id(request, "thread_id")))


async def patch(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadPatch)
    return JSONResponse(await wait_future(_ops(request).update_thread(path_id(request, "thread_id"), body.metadata)))


async def delete(request: Request) -> Response:
    await wait_future(_ops(request).delete_thread(path_id(request, "thread_id")))
    return Response(status_code=204)


async def search(request: Request) -> JSONResponse:
    query = await decode_body(request, ThreadSearch, optional=True)
    return JSONResponse(_ops(request).search_threads(query.metadata, query.status, query.limit, query.offset))


async def state(request: Request) -> JSONResponse:
    return JSONResponse(await wait_future(_ops(request).get_state(path_id(request, "thread_id"))))


routes = [
    Route("/threads", create, methods=["POST"]),
    Route("/threads/search", search, methods=["POST"]),
    Route("/threads/{thread_id}", get, methods=["GET"]),
    Route("/threads/{thread_id}", patch, methods=["PATCH"]),
    Route("/threads/{thread_id}", delete, methods=["DELETE"]),
    Route("/threads/{thread_id}/state", state, methods=["GET"]),
]
