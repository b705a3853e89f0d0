"""Crons: create (stateless or on a thread), get, patch, delete, search, count.

The records and the firing live in `actors/runs/crons.py` (`system.crons`); this module only decodes,
calls it, and encodes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.models import Cron, Durability, NodeNames, OnCompletion, Strategy, StreamMode

from ..http import JSONResponse, decode_body, door, page, path_id
from ..openapi import responds
from ..schemas import Limit, Offset
from ..routing import Access, Route

RUN_FIELDS = (
    "input", "config", "context", "interrupt_before", "interrupt_after", "webhook", "multitask_strategy",
    "stream_mode", "stream_subgraphs", "stream_resumable", "durability", "checkpoint_during",
)
"""The request fields that become the options of every run the cron creates (its `payload`)."""


class CronRunOptions(msgspec.Struct, kw_only=True):
    input: dict[str, Any] | list[Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    interrupt_before: NodeNames | None = None
    interrupt_after: NodeNames | None = None
    webhook: str | None = None
    multitask_strategy: Strategy | None = None
    stream_mode: StreamMode | list[StreamMode] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Durability | None = None
    checkpoint_during: bool | None = None

    def payload(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in RUN_FIELDS if getattr(self, f) is not None}


class CronCreate(CronRunOptions, kw_only=True):
    assistant_id: str
    schedule: str
    metadata: dict[str, Any] | None = None
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: OnCompletion | None = None


class CronPatch(CronRunOptions, kw_only=True):
    schedule: str | None = None
    metadata: dict[str, Any] | None = None
    timezone: str | None = None
    end_time: datetime | None | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | None = None
    on_run_completed: OnCompletion | None = None


class CronSearch(msgspec.Struct, kw_only=True):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: Literal[
        "cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"
    ] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None


class CronCount(msgspec.Struct, kw_only=True):
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None


def _utc(value: datetime | None) -> datetime | None:
    """A naive `end_time` is taken as UTC (the SDK sends `datetime.isoformat()` as it is)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _user_id(request: Request) -> str:
    """Who creates the cron: `""` without auth, as on the reference."""
    auth = request.scope.get("auth")
    return getattr(getattr(auth, "user", None), "identity", None) or ""


async def _create(request: Request, thread_id: str | None) -> JSONResponse:
    body = await decode_body(request, CronCreate)
    cron = await door(request).call(
        request.app.state.system.crons.create,
        body.assistant_id,
        body.schedule,
        thread_id=thread_id,
        payload=body.payload(),
        metadata=body.metadata,
        timezone=body.timezone,
        end_time=_utc(body.end_time),
        enabled=body.enabled,
        on_run_completed=body.on_run_completed,
        user_id=_user_id(request),
    )
    return JSONResponse(cron)


@responds(Cron)
async def create(request: Request) -> JSONResponse:
    return await _create(request, None)


@responds(Cron)
async def create_for_thread(request: Request) -> JSONResponse:
    return await _create(request, path_id(request, "thread_id"))


@responds(Cron)
async def get(request: Request) -> JSONResponse:
    return JSONResponse(await door(request).call(request.app.state.system.crons.get, path_id(request, "cron_id")))


@responds(Cron)
async def patch(request: Request) -> JSONResponse:
    cron_id = path_id(request, "cron_id")
    body = await decode_body(request, CronPatch)
    changes: dict[str, Any] = {
        f: getattr(body, f) for f in ("schedule", "metadata", "timezone", "enabled", "on_run_completed")
        if getattr(body, f) is not None
    }
    if body.end_time is not msgspec.UNSET:
        changes["end_time"] = _utc(body.end_time)  # type: ignore[arg-type]
    return JSONResponse(await door(request).call(request.app.state.system.crons.update, cron_id, payload=body.payload(), **changes))


@responds(status=204)
async def delete(request: Request) -> Response:
    await door(request).call(request.app.state.system.crons.delete, path_id(request, "cron_id"))
    return Response(status_code=204)


@responds(Cron, selectable=True)
async def search(request: Request) -> JSONResponse:
    q = await decode_body(request, CronSearch, optional=True)
    found = await door(request).call(
        request.app.state.system.crons.search, assistant_id=q.assistant_id, thread_id=q.thread_id, enabled=q.enabled, metadata=q.metadata,
        limit=q.limit + 1, offset=q.offset, sort_by=q.sort_by, sort_order=q.sort_order,
    )
    return page(found, q.offset, q.limit, q.select, of=Cron)


@responds(int)
async def count(request: Request) -> JSONResponse:
    body = await decode_body(request, CronCount, optional=True)
    crons = request.app.state.system.crons
    return JSONResponse(
        await door(request).call(crons.count, assistant_id=body.assistant_id, thread_id=body.thread_id, metadata=body.metadata)
    )


routes = [
    Route("/runs/crons", create, methods=["POST"], auth=Access("crons", "create", "create")),
    Route("/runs/crons/search", search, methods=["POST"], auth=Access("crons", "search", "search")),
    Route("/runs/crons/count", count, methods=["POST"], auth=Access("crons", "search", "count")),
    Route("/runs/crons/{cron_id}", get, methods=["GET"], auth=Access("crons", "read", "object")),
    Route("/runs/crons/{cron_id}", patch, methods=["PATCH"], auth=Access("crons", "update", "object")),
    Route("/runs/crons/{cron_id}", delete, methods=["DELETE"], auth=Access("crons", "delete", "object")),
    Route("/threads/{thread_id}/runs/crons", create_for_thread, methods=["POST"], auth=Access("crons", "create", "create_on_thread")),
]
