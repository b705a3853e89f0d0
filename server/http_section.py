"""The `http` section of langgraph.json applied to the API app, as the reference server applies it.

- `disable_assistants|threads|runs|store|meta|ui|mcp|a2a`: those routes are not served (404).
  `disable_runs` covers `/runs*` and `/threads/{id}/runs*` (crons too); `disable_meta` covers
  `/info`, `/metrics`, `/docs`, `/openapi.json` (`/ok` stays).
- `app`: a Starlette (or FastAPI) app served beside the API. Its routes come first, so they may
  shadow API routes, except `/ok`, `/metrics`, `/docs` and `/openapi.json`; its middleware wraps
  every request, the API's too; its lifespan runs around ours. The API's auth applies to its
  routes only with `enable_custom_route_auth`.
- `mount_prefix`: everything is served under the prefix; `/`, `/ok` and `/metrics` also at the root.
- `configurable_headers`: server/headers.py.
"""

from __future__ import annotations

import contextlib
import copy
import re
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from actors.loading import import_object
from actors.project import GraphConfigError, HttpConfig

from .headers import HeaderFilter
from .loopback import serve_loopback_clients


UNSHADOWABLE = ("/ok", "/metrics", "/docs", "/openapi.json")
SHADOWABLE = ("/info",)
META = ("/info", "/metrics", "/docs", "/openapi.json")
PROTOCOL_V2 = ("/threads/{thread_id}/commands", "/threads/{thread_id}/stream/events")
_THREAD_RUNS = re.compile(r"^/threads/\{thread_id\}/runs(/|$)")


def route_group(path: str) -> str | None:
    """Which `disable_*` flag turns this route off."""
    if path.startswith("/runs") or _THREAD_RUNS.match(path) or path in PROTOCOL_V2:
        return "runs"  # protocol v2 creates runs too: the reference turns it off with the runs
    for group in ("assistants", "threads", "store", "ui", "mcp", "a2a"):
        if path == f"/{group}" or path.startswith(f"/{group}/"):
            return group
    return "meta" if path in META else None


def _enabled(route: BaseRoute, http: HttpConfig) -> bool:
    group = route_group(getattr(route, "path", ""))
    return group is None or not getattr(http, f"disable_{group}")


def apply_http_config(api: Starlette, http: HttpConfig, config_path: str | Path | None, auth_middleware: Any) -> ASGIApp:
    """The app to serve: `api` with the `http` section applied. `auth_middleware` wraps an ASGI
    app in the API's auth (None when auth is off)."""
    api.state.configurable_headers = HeaderFilter(http.configurable_headers)
    api.router.routes = [route for route in api.router.routes if _enabled(route, http)]
    served: ASGIApp = api
    if http.app is not None:
        assert config_path is not None
        served = _beside(api, _load_app(http.app, Path(config_path).resolve().parent), http, auth_middleware)
    if http.mount_prefix:
        served = MountPrefix(served, http.mount_prefix, _root_app(api))
    serve_loopback_clients(served)
    return served


def _load_app(spec: str, base: Path) -> Starlette:
    app = import_object(spec, base, "http.app")
    if not isinstance(app, Starlette):
        raise GraphConfigError(f"http.app: {spec} is a {type(app).__name__}, not a Starlette or FastAPI app")
    return app


# The custom app's own routes and lifespan, as imported: an app served again (a second
# `create_app` in one process, as tests do) is composed from these, not from the composed ones.
_ORIGINALS: weakref.WeakKeyDictionary[Starlette, tuple[list[BaseRoute], Any]] = weakref.WeakKeyDictionary()


def _beside(api: Starlette, custom: Starlette, http: HttpConfig, auth_middleware: Any) -> Starlette:
    """`custom`, serving its routes and then the API's, its middleware around both. The app object
    itself is the one served (its middleware, exception handlers and state are what it has)."""
    own, own_lifespan = _ORIGINALS.setdefault(custom, (list(custom.router.routes), custom.router.lifespan_context))
    forward = _Forward(api)
    first = () if http.disable_meta else UNSHADOWABLE
    then = ("/ok",) if http.disable_meta else SHADOWABLE
    if http.enable_custom_route_auth and auth_middleware is not None:
        own = [_guarded(route, auth_middleware) for route in own]
    custom.router.routes = [
        *(Route(path, forward) for path in first),
        *own,
        *(Route(path, forward) for path in then),
        Mount("", app=api),
    ]
    custom.router.lifespan_context = _both_lifespans(api, own_lifespan)
    custom.state = api.state  # request.app.state.system works on either side
    return custom


def _guarded(route: BaseRoute, auth_middleware: Any) -> BaseRoute:
    guarded = copy.copy(route)
    guarded.app = auth_middleware(route.app)  # type: ignore[attr-defined]
    return guarded


class _Forward:
    """An ASGI app that hands the request to the API (Starlette treats a non-function endpoint as one)."""

    def __init__(self, api: ASGIApp) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.api(scope, receive, send)


def _both_lifespans(api: Starlette, custom_lifespan: Any) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with api.router.lifespan_context(api):
            async with custom_lifespan(app) as state:
                yield state

    return lifespan


def _root_app(api: Starlette) -> Starlette:
    """What answers at the root beside a mount prefix: health and metrics, straight from the API
    (no custom route shadows them, and `disable_meta` does not remove them), as on the reference."""
    from . import metrics
    from .routes import system

    root = Starlette(routes=[Route("/", system.ok), Route("/ok", system.ok), *metrics.routes])
    root.state = api.state
    return root


class MountPrefix:
    """Serve `app` under `prefix`; `/`, `/ok` and `/metrics` answer at the root too (`root`). The
    prefix is taken off `path` (and put on `root_path`), so routes, auth rules and metrics see
    the same paths as without a prefix."""

    def __init__(self, app: ASGIApp, prefix: str, root: ASGIApp) -> None:
        self.app, self.prefix, self.root = app, prefix, root
        self.state = getattr(app, "state", None)  # as the API's: `create_app(...).state.system`

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        path: str = scope["path"]
        if scope.get("root_path") == "/noauth":  # an in-process client (server/loopback.py): no prefix
            await self.app(scope, receive, send)
        elif path == self.prefix or path.startswith(self.prefix + "/"):
            inner = path[len(self.prefix):] or "/"
            await self.app({**scope, "path": inner, "raw_path": inner.encode(), "root_path": scope.get("root_path", "") + self.prefix}, receive, send)
        elif path in ("/", "/ok", "/metrics"):
            await self.root(scope, receive, send)
        else:
            from starlette.responses import JSONResponse

            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
