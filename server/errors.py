"""Errors to HTTP responses: which handler answers which exception class (`EXCEPTION_HANDLERS`).
A domain error's status is the `status_code` its class declares in `actors/errors.py`. The body is
always `{"detail": "..."}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from actors.errors import DatabaseUnavailable, SwitchboardError
from actors.storage.health import is_transient

from .http import JSONResponse, MalformedJSON

log = logging.getLogger("switchboard.http")


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwitchboardError)
    retry_after = getattr(exc, "retry_after", None)  # ShuttingDown, DatabaseUnavailable
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def malformed_json(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    if is_transient(exc):  # a database error outside the guarded record table (checkpoints, store)
        health = getattr(request.app.state.system.storage, "health", None)
        if health is not None:
            health.failed(exc)
            return await domain_error(request, health.unavailable())
        return await domain_error(request, DatabaseUnavailable(f"storage unavailable: {type(exc).__name__}: {exc}"))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


EXCEPTION_HANDLERS = {
    SwitchboardError: domain_error,
    MalformedJSON: malformed_json,
    HTTPException: http_error,
    Exception: unexpected_error,
}
