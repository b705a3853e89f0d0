"""Health and server information."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from starlette.requests import Request

from actors.errors import InvalidInput

from ..http import JSONResponse
from ..openapi import HealthResponse, responds
from ..routing import PUBLIC, Route


def _version(package: str = "switchboard") -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "0.0.0+local"


HEALTH_CHECK_TIMEOUT = 3.0
"""Seconds `/ok?check_db=1` waits for the database (the reference's timeout)."""


@responds(HealthResponse, also=(503,), query={"check_db": Literal[0, 1]})
async def ok(request: Request) -> JSONResponse:
    """Health check: `{"ok": true, "services": {...}}`; with `check_db=1` the database is tried.

    The database is reported `healthy` (answered now), `skipped` (not tried, not known to be away)
    or `unhealthy` (away: answered 503 with `Retry-After`)."""
    check_db = request.query_params.get("check_db", "0")
    if check_db not in ("0", "1"):
        raise InvalidInput(f"check_db: {check_db!r} must be 0 or 1")
    health = getattr(request.app.state.system.storage, "health", None)
    if health is None:  # memory: nothing that can be away
        return JSONResponse({"ok": True, "services": {}})
    healthy = health.up
    if check_db == "1" and healthy:
        try:
            healthy = await asyncio.wait_for(asyncio.to_thread(health.check_now), HEALTH_CHECK_TIMEOUT)
        except TimeoutError:
            healthy = False
    if healthy:
        return JSONResponse({"ok": True, "services": {"database": "healthy" if check_db == "1" else "skipped"}})
    error = health.unavailable()
    return JSONResponse(
        {"ok": False, "services": {"database": "unhealthy"}, "detail": error.detail},
        status_code=503,
        headers={"Retry-After": str(error.retry_after)},
    )


@responds(dict[str, Any])
async def info(request: Request) -> JSONResponse:
    """Server version, the LangGraph version, and which features are on."""
    state = request.app.state
    return JSONResponse(
        {
            "version": _version(),
            "langgraph_py_version": _version("langgraph"),
            "server": "switchboard",
            "graphs": state.system.graph_ids,
            "flags": {
                "assistants": True,
                "crons": True,
                "store": True,
                "auth": getattr(state, "auth", None) is not None,
                "langsmith": False,
                "a2a": False,
                "mcp": False,
            },
            "metadata": {},
        }
    )


routes = [Route("/ok", ok, methods=["GET"], auth=PUBLIC), Route("/info", info, methods=["GET"], auth=PUBLIC)]
