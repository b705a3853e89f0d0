"""Runs not tied to a caller's thread (`/runs*`): each gets a thread of its own, deleted when the run
ends unless `on_completion: "keep"`; batches of runs; cancelling many runs at once."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors.runs.options import check_configurable_or_context
from actors.models import Run, StopAction

from ..headers import configurable_headers, with_configurable_headers
from ..http import JSONResponse, decode_body, door, uuid_field
from ..openapi import responds
from ..schemas import BatchRunCreate, RunsCancel
from .runs import create_background, create_streaming, create_waiting
from ..routing import Access, Route


@responds(Run, also=(409,))
async def create(request: Request) -> JSONResponse:
    return await create_background(request, None)


@responds(str, media_type="text/event-stream", also=(409,))
async def stream(request: Request) -> Response:
    return await create_streaming(request, None)


@responds(Any, also=(409,))
async def wait(request: Request) -> JSONResponse:
    return await create_waiting(request, None)


@responds(list[Run], also=(409,))
async def batch(request: Request) -> JSONResponse:
    items = await decode_body(request, list[BatchRunCreate])
    for i, item in enumerate(items):
        if item.thread_id is not None:
            item.thread_id = uuid_field(f"[{i}].thread_id", item.thread_id)
    headers = configurable_headers(request)
    requests = [item.request() for item in items]
    for request_options in requests:
        check_configurable_or_context(request_options)
    requests = [with_configurable_headers(r, headers) for r in requests]
    return JSONResponse(await door(request).call(request.app.state.system.ops.create_runs_batch, requests))


@responds(status=204, also=(404,), query={"action": StopAction})
async def cancel(request: Request) -> Response:
    body = await decode_body(request, RunsCancel)
    action = request.query_params.get("action", "interrupt")
    thread_id = uuid_field("thread_id", body.thread_id) if body.thread_id else None
    run_ids = [uuid_field(f"run_ids[{i}]", r) for i, r in enumerate(body.run_ids or [])]
    await door(request).call(
        request.app.state.system.ops.cancel_runs, thread_id=thread_id, run_ids=run_ids or None, status=body.status, action=action
    )
    return Response(status_code=204)


routes = [
    Route("/runs", create, methods=["POST"], auth=Access("threads", "create_run", "create")),
    Route("/runs/stream", stream, methods=["POST"], auth=Access("threads", "create_run", "create")),
    Route("/runs/wait", wait, methods=["POST"], auth=Access("threads", "create_run", "create")),
    Route("/runs/batch", batch, methods=["POST"], auth=Access("threads", "create_run", "batch")),
    Route("/runs/cancel", cancel, methods=["POST"], auth=Access("threads", "update", "ids", "thread_id")),
]
