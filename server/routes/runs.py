"""Runs on a thread: create (background, stream, wait), list, get, delete, join, join stream, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors.errors import NotFound
from actors.runs.options import check_configurable_or_context
from actors.kernel.runtime import wait_future
from actors.models import Run, RunStatus, StopAction
from actors.kernel.streams import AsyncSubscription

from ..headers import configurable_headers, with_configurable_headers
from ..http import JSONResponse, decode_body, door, path_id, query_bool, query_int
from ..openapi import responds
from ..schemas import MAX_LIMIT, MAX_OFFSET, Offset, RunCreate
from ..sse import sse_response
from ..routing import Access, Route

DISCONNECTED = "the client disconnected (on_disconnect=cancel)"  # the thread's `error` message


def _ops(request: Request):
    return request.app.state.system.ops


def _options(request: Request, body: RunCreate) -> dict[str, Any]:
    options = body.options()
    check_configurable_or_context(options)
    return with_configurable_headers(options, configurable_headers(request))


def _run_path(thread_id: str, run_id: str) -> str:
    return f"/threads/{thread_id}/runs/{run_id}"


@responds(Run, also=(409,))
async def create(request: Request) -> JSONResponse:
    return await create_background(request, path_id(request, "thread_id"))


@responds(str, media_type="text/event-stream", also=(409,))
async def stream(request: Request) -> Response:
    return await create_streaming(request, path_id(request, "thread_id"))


@responds(Any, also=(409,))
async def wait(request: Request) -> JSONResponse:
    return await create_waiting(request, path_id(request, "thread_id"))


async def create_background(request: Request, thread_id: str | None) -> JSONResponse:
    body = await decode_body(request, RunCreate)
    run = await door(request).call(_ops(request).create_run, thread_id, body.assistant_id, **_options(request, body))
    return JSONResponse(run, headers={"Content-Location": _run_path(run.thread_id, run.run_id)})


async def create_streaming(request: Request, thread_id: str | None) -> Response:
    """Create a run and stream its events; the subscription opens before the run is submitted."""
    body = await decode_body(request, RunCreate)
    ops = _ops(request)
    run, subscription = await door(request).stream_run(thread_id, body.assistant_id, **_options(request, body))
    path = _run_path(run.thread_id, run.run_id)
    headers = {"Content-Location": path, "Location": f"{path}/stream"}  # as the reference, resumable or not
    on_disconnect = None
    if body.on_disconnect == "cancel":
        on_disconnect = lambda: door(request).soon(ops.cancel_run, run.thread_id, run.run_id, reason=DISCONNECTED)  # noqa: E731
    return sse_response(subscription, headers=headers, with_ids=body.stream_resumable, on_disconnect=on_disconnect)


async def create_waiting(request: Request, thread_id: str | None) -> JSONResponse:
    body = await decode_body(request, RunCreate)
    ops = _ops(request)
    run, finished = await door(request).wait_run(thread_id, body.assistant_id, **_options(request, body))
    if body.on_disconnect == "cancel":
        output = await _unless_disconnected(
            request, finished, lambda: door(request).soon(ops.cancel_run, run.thread_id, run.run_id, reason=DISCONNECTED)
        )
    else:
        output = await wait_future(finished)
    path = _run_path(run.thread_id, run.run_id)
    return JSONResponse(output, headers={"Content-Location": path, "Location": f"{path}/join"})


async def _unless_disconnected(request: Request, finished: Any, cancel: Any) -> Any:
    """Wait for `finished`; if the client disconnects first, call `cancel` and give up."""
    waiting = asyncio.ensure_future(wait_future(finished))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait([waiting, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not waiting.done():
        waiting.cancel()
        cancel()
        return None  # nobody is listening any more
    return waiting.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


@responds(list[Run], query={"limit": Offset, "offset": Offset, "status": RunStatus})
async def list_runs(request: Request) -> JSONResponse:
    thread_id = path_id(request, "thread_id")
    limit = query_int(request, "limit", 10, minimum=1, maximum=MAX_LIMIT)
    offset = query_int(request, "offset", 0, maximum=MAX_OFFSET)
    status = request.query_params.get("status")
    return JSONResponse(await door(request).call(_ops(request).list_runs, thread_id, limit, offset, status))


@responds(Run)
async def get(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(_ops(request).get_run, path_id(request, "thread_id"), path_id(request, "run_id")))


@responds(status=204, also=(409,))
async def delete(request: Request) -> Response:
    await door(request).call(_ops(request).delete_run, path_id(request, "thread_id"), path_id(request, "run_id"))
    return Response(status_code=204)


@responds(Any)
async def join(request: Request) -> JSONResponse:
    thread_id, run_id = path_id(request, "thread_id"), path_id(request, "run_id")
    return JSONResponse(await door(request).call(_ops(request).join_run, thread_id, run_id))


@responds(str, media_type="text/event-stream", query={"cancel_on_disconnect": bool})
async def join_stream(request: Request) -> Response:
    thread_id, run_id = path_id(request, "thread_id"), path_id(request, "run_id")
    ops = _ops(request)
    events = await door(request).call(ops.join_stream, thread_id, run_id)
    last_event_id = request.headers.get("last-event-id")
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    subscription = AsyncSubscription(events, after_id=after)  # resumable runs replay what was missed
    await door(request).call(ops.stream_still_live, run_id, events)
    on_disconnect = None
    if query_bool(request, "cancel_on_disconnect"):
        on_disconnect = lambda: door(request).soon(ops.cancel_run, thread_id, run_id)  # noqa: E731
    path = _run_path(thread_id, run_id)
    headers = {"Content-Location": path, "Location": f"{path}/stream"}
    return sse_response(subscription, headers=headers, with_ids=events.resumable, on_disconnect=on_disconnect)


@responds(status=202, also=(200,), query={"wait": bool, "action": StopAction})
async def cancel(request: Request) -> Response:
    thread_id, run_id = path_id(request, "thread_id"), path_id(request, "run_id")
    action = request.query_params.get("action", "interrupt")
    ops = _ops(request)
    wait = query_bool(request, "wait")
    await door(request).call(ops.cancel_run, thread_id, run_id, wait=wait, action=action)
    if not wait:
        return Response(status_code=202)
    # As the reference: a waited cancel answers with what a join would (the thread's values after
    # the run), `{}` once there is nothing (a rolled-back run is gone).
    try:
        output = await door(request).call(ops.join_run, thread_id, run_id)
    except NotFound:
        output = None
    return JSONResponse(output if output is not None else {})


routes = [
    Route("/threads/{thread_id}/runs", create, methods=["POST"], auth=Access("threads", "create_run", "create_on_thread")),
    Route("/threads/{thread_id}/runs", list_runs, methods=["GET"], auth=Access("threads", "search", "object")),  # the reference's action
    Route("/threads/{thread_id}/runs/stream", stream, methods=["POST"], auth=Access("threads", "create_run", "create_on_thread")),
    Route("/threads/{thread_id}/runs/wait", wait, methods=["POST"], auth=Access("threads", "create_run", "create_on_thread")),
    Route("/threads/{thread_id}/runs/{run_id}", get, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/runs/{run_id}", delete, methods=["DELETE"], auth=Access("threads", "delete", "object")),
    Route("/threads/{thread_id}/runs/{run_id}/join", join, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/runs/{run_id}/stream", join_stream, methods=["GET"], auth=Access("threads", "read", "object")),
    Route("/threads/{thread_id}/runs/{run_id}/cancel", cancel, methods=["POST"], auth=Access("threads", "update", "object")),
]
