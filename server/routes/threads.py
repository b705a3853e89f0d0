"""Threads: create, read, patch, delete, search, count, copy, prune; state, history; join stream."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.models import Thread

from ..headers import configurable_headers
from ..http import JSONResponse, decode_body, door, page, path_id, query_bool, query_struct, uuid_field
from ..openapi import PruneResult, responds
from ..schemas import (
    Checkpoint,
    Limit,
    ThreadCount,
    ThreadCreate,
    ThreadHistory,
    ThreadPatch,
    ThreadPrune,
    ThreadSearch,
    ThreadStateAt,
    ThreadStateUpdate,
)
from ..sse import sse_response
from ..routing import Access, Route


def _ops(request: Request):
    return request.app.state.system.ops


def _checkpoint(value: Checkpoint | str | None) -> dict[str, Any] | None:
    if value is None or isinstance(value, str):
        return {"checkpoint_id": value} if value else None
    return {k: v for k, v in msgspec.structs.asdict(value).items() if v is not None}


@responds(Thread, also=(409,))
async def create(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadCreate, optional=True)
    thread_id = uuid_field("thread_id", body.thread_id) if body.thread_id is not None else None
    if not body.supersteps:
        return JSONResponse(await door(request).call(_ops(request).create_thread, thread_id, body.metadata, body.if_exists))
    steps = [[msgspec.structs.asdict(u) for u in step.updates] for step in body.supersteps]
    created = door(request).call(_ops(request).create_thread_with_history, thread_id, body.metadata, body.if_exists, steps)
    return JSONResponse(await created)


@responds(Thread)
async def get(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(_ops(request).get_thread, path_id(request, "thread_id")))


@responds(Thread)
async def patch(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadPatch)
    return JSONResponse(await door(request).call(_ops(request).update_thread, path_id(request, "thread_id"), body.metadata))


@responds(status=204)
async def delete(request: Request) -> Response:
    await door(request).call(_ops(request).delete_thread, path_id(request, "thread_id"))
    return Response(status_code=204)


@responds(Thread, selectable=True)
async def search(request: Request) -> JSONResponse:
    q = await decode_body(request, ThreadSearch, optional=True)
    found = await door(request).call(
        _ops(request).search_threads,
        q.metadata, q.status, q.limit + 1, q.offset, values=q.values, ids=q.ids, sort_by=q.sort_by, sort_order=q.sort_order,
    )
    return page(found, q.offset, q.limit, q.select, of=Thread)


@responds(int)
async def count(request: Request) -> JSONResponse:
    q = await decode_body(request, ThreadCount, optional=True)
    return JSONResponse(await door(request).call(_ops(request).count_threads, q.metadata, q.status, q.values))


@responds(Thread)
async def copy(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(_ops(request).copy_thread, path_id(request, "thread_id")))


@responds(PruneResult, also=(409,))
async def prune(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadPrune)
    thread_ids = [uuid_field(f"thread_ids[{i}]", t) for i, t in enumerate(body.thread_ids)]
    return JSONResponse({"pruned_count": await door(request).call(_ops(request).prune_threads, thread_ids, body.strategy)})


@responds(dict[str, Any], query={"subgraphs": bool})
async def state(request: Request) -> JSONResponse:
    thread_id = path_id(request, "thread_id")
    checkpoint_id = request.path_params.get("checkpoint_id")
    checkpoint = {"checkpoint_id": checkpoint_id} if checkpoint_id else None
    subgraphs = query_bool(request, "subgraphs")
    found = door(request).call(_ops(request).get_state, thread_id, checkpoint, subgraphs=subgraphs, headers=configurable_headers(request))
    return JSONResponse(await found)


@responds(dict[str, Any])
async def state_at(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadStateAt)
    found = door(request).call(
        _ops(request).get_state, path_id(request, "thread_id"), _checkpoint(body.checkpoint), subgraphs=body.subgraphs,
        headers=configurable_headers(request),
    )
    return JSONResponse(await found)


@responds(dict[str, Any], also=(409,))
async def update_state(request: Request) -> JSONResponse:
    body = await decode_body(request, ThreadStateUpdate)
    updated = door(request).call(
        _ops(request).update_state, path_id(request, "thread_id"), body.values, as_node=body.as_node,
        checkpoint=_checkpoint(body.checkpoint), checkpoint_id=body.checkpoint_id, headers=configurable_headers(request),
    )
    return JSONResponse(await updated)


@responds(list[dict[str, Any]], query={"limit": Limit})
async def history(request: Request) -> JSONResponse:
    if request.method == "POST":
        q = await decode_body(request, ThreadHistory, optional=True)
    else:
        q = query_struct(request, ThreadHistory)
    found = door(request).call(
        _ops(request).get_history, path_id(request, "thread_id"), limit=q.limit, before=_checkpoint(q.before), metadata=q.metadata,
        checkpoint=_checkpoint(q.checkpoint), headers=configurable_headers(request),
    )
    return JSONResponse(await found)


@responds(str, media_type="text/event-stream", query={"stream_mode": list[Literal["run_modes", "lifecycle", "state_update"]]})
async def join_stream(request: Request) -> Response:
    thread_id = path_id(request, "thread_id")
    modes = request.query_params.getlist("stream_mode") or ["run_modes"]
    last_event_id = request.headers.get("last-event-id")
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    # 404 (thread) or 422 (stream_mode) before the stream starts
    events = await door(request).call(_ops(request).follow_thread, thread_id, modes, after_id=after)
    return sse_response(_Closable(events), with_ids=True)


class _Closable:
    """An async generator of events with the `close()` sse_response calls when the client leaves."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def __aiter__(self) -> Any:
        return self.events.__aiter__()

    def close(self) -> None:
        pass  # the generator's own `finally` unsubscribes when it is closed


routes = [
    Route("/threads", create, methods=["POST"], auth=Access("threads", "create", "create")),
    Route("/threads/search", search, methods=["POST"], auth=Access("threads", "search", "search")),
    Route("/threads/count", count, methods=["POST"], auth=Access("threads", "search", "count")),
    Route("/threads/prune", prune, methods=["POST"], auth=Access("threads", "delete", "ids", "thread_ids")),
    Route("/threads/{thread_id}", get, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}", patch, methods=["PATCH"], auth=Access("threads", "update", "object")),
    Route("/threads/{thread_id}", delete, methods=["DELETE"], auth=Access("threads", "delete", "object")),
    Route("/threads/{thread_id}/copy", copy, methods=["POST"], auth=Access("threads", "read", "object", also=("threads", "create"))),
    Route("/threads/{thread_id}/state", state, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/state", update_state, methods=["POST"], auth=Access("threads", "update", "object")),
    Route("/threads/{thread_id}/state/checkpoint", state_at, methods=["POST"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/state/{checkpoint_id}", state, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/history", history, methods=["GET", "POST"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/stream", join_stream, methods=["GET"], auth=Access("threads", "read", "object")),
]
