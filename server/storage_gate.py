"""While the storage is down (actors/storage/health.py), answer at once with `503` and `Retry-After`
instead of letting a request wait on a thread actor that waits for the database. Reads still pass
when the backend serves them (SQLite on a full disk); `/ok`, `/info` and the API's self-description
always pass."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

EXEMPT = frozenset({"/ok", "/info", "/openapi.json", "/docs", "/metrics"})
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class StorageGate:
    def __init__(self, app: ASGIApp, health: Any) -> None:
        self.app = app
        self.health = health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in EXEMPT and scope["method"] != "OPTIONS":
            if self.health.refuses(write=scope["method"] not in READS):
                await error_response(self.health.unavailable())(scope, receive, send)
                return
        await self.app(scope, receive, send)
