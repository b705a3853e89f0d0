"""Request size limits at the edge, before auth or any route reads a byte: a body larger than
`max_body_bytes` is a 413, headers larger than `max_header_bytes` a 431, each saying the limit.
An ASGI middleware, so the limits hold under any ASGI server; `server/serving.py` adds what only
the HTTP protocol can do (a deadline for a request's headers, refusing them before they are buffered).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.errors import SwitchboardError

from .http import JSONResponse

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may send, and how long a connection may take to send its headers or sit idle."""

    max_body_bytes: int = 10 * MiB
    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    keep_alive_timeout: float = 5.0


def too_large(what: str, size: int | None, limit: int, flag: str) -> str:
    given = f" ({size} bytes)" if size is not None else ""
    return f"request {what} too large{given}: the limit is {limit} bytes (switchboard serve {flag})"


class PayloadTooLarge(SwitchboardError):
    """Raised from `receive` once a streamed body passes the limit: whoever is reading it (auth, a
    route) answers 413 through the usual error table (`server/errors.py`)."""


class RequestLimits:
    """ASGI middleware: 431 for oversized headers, 413 for an oversized body (by Content-Length up
    front, or counted as a chunked body streams in)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > limits.max_header_bytes:
            detail = too_large("headers", header_bytes, limits.max_header_bytes, "--max-header-size")
            await JSONResponse({"detail": detail}, status_code=431)(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            await self._refuse_body(int(declared), scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_body_bytes:
                    raise PayloadTooLarge(too_large("body", None, limits.max_body_bytes, "--max-body-size"))
            return message

        await self.app(scope, counted_receive, send)

    async def _refuse_body(self, size: int | None, scope: Scope, receive: Receive, send: Send) -> None:
        detail = too_large("body", size, self.limits.max_body_bytes, "--max-body-size")
        # `Connection: close`: the rest of the body is not read, so the connection cannot be reused
        await JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})(scope, receive, send)
