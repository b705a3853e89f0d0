"""Errors to HTTP responses, in one place: the status of each domain error (`STATUS`; the errors
themselves, in `actors/errors.py`, say only what went wrong) and which handler answers which
exception class (`EXCEPTION_HANDLERS`). The body is always `{"detail": "..."}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from actors.errors import (
    BadRequest, Conflict, DatabaseUnavailable, Fenced, Forbidden, InvalidInput, NotFound, OwnedElsewhere,
    ShuttingDown, SwitchboardError, ThreadBusy, Unauthorized,
)
from actors.storage.health import is_transient

from .http import JSONResponse, MalformedJSON
from .limits import PayloadTooLarge

log = logging.getLogger("switchboard.http")

STATUS: dict[type[SwitchboardError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    ThreadBusy: 409,
    Conflict: 409,
    PayloadTooLarge: 413,
    InvalidInput: 422,
    ShuttingDown: 503,  # with Retry-After
    DatabaseUnavailable: 503,  # with Retry-After
    Fenced: 503,  # cluster mode, with Retry-After: retried, the request reaches the thread's new owner
    OwnedElsewhere: 503,  # cluster mode, with Retry-After
    SwitchboardError: 500,
}
"""The HTTP status of each domain error (a subclass without a row answers as its nearest base)."""


def status_of(exc: SwitchboardError) -> int:
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def error_response(exc: SwitchboardError) -> JSONResponse:
    """`{"detail"}` with the error's status; `Retry-After` when it says when to retry, and the
    headers an auth handler gave its 401."""
    headers = dict(getattr(exc, "headers", None) or {})
    retry_after = getattr(exc, "retry_after", None)  # ShuttingDown, DatabaseUnavailable
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"detail": exc.detail}, status_code=status_of(exc), headers=headers or None)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SwitchboardError)
    return error_response(exc)


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
