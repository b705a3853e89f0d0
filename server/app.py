"""The Starlette application: route tables, the error table, and the actor system's lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from langgraph_sdk import Auth
from starlette.applications import Starlette

from actors import ActorSystem
from actors.config.auth import Authorizer, authorizer_from_config

from . import metrics
from .auth import AuthMiddleware
from .cors import CorsApp, cors_options
from .routes import crons, meta, store  # store, crons, self-description, unserved reference routes
from .errors import EXCEPTION_HANDLERS
from .forwarding import Forwarding
from .http_section import apply_http_config
from .limits import Limits, RequestLimits
from .routes import assistants, protocol, runs, stateless, system, threads, ui
from .routing import check_declared
from .storage_gate import StorageGate
from actors.config.project import http_config


def create_app(
    actor_system: ActorSystem, *, own_system: bool = True, auth: Auth | None = None, limits: Limits | None = None
) -> Starlette:
    """An ASGI app serving `actor_system`; with `own_system`, shutting the app down shuts it down.
    `limits` caps request bodies and headers (default: `Limits()`, 10 MiB and 64 KiB).

    Auth is on when `auth` (a `langgraph_sdk.Auth`) is given, or when the system's langgraph.json
    has an `auth` section; then every request passes `server/auth.py` first. The langgraph.json
    `http` section is applied last (server/http_section.py): with `http.app` or `mount_prefix` the
    app returned wraps the API's (both share `app.state`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        check_declared(app.routes)  # again: routes added after create_app need a declaration too
        try:
            yield
        finally:
            if own_system:
                actor_system.shutdown()

    app = Starlette(
        routes=[*system.routes, *assistants.routes, *threads.routes, *runs.routes, *stateless.routes, *protocol.routes],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.system = actor_system
    app.router.routes.extend([*crons.routes, *store.routes, *meta.routes, *metrics.routes, *ui.routes])
    app.router.routes[:] = meta.with_allowed_methods(app.router.routes)  # OPTIONS; 405 with every method in Allow
    check_declared(app.routes)  # deny by default: every route says which auth resource and action it needs
    app.state.auth = authorizer = Authorizer(auth) if auth is not None else authorizer_from_config(
        actor_system.settings.config_path
    )
    if authorizer is not None:
        app.add_middleware(AuthMiddleware, authorizer=authorizer, system=actor_system, router=app.router)
    if getattr(actor_system.storage, "health", None) is not None:  # outside auth: its look-ups need storage too
        app.add_middleware(StorageGate, health=actor_system.storage.health)
    if actor_system.ctx.cluster is not None:  # a thread's requests go to its owner; outside auth: the owner runs it
        app.add_middleware(Forwarding, node=actor_system.ctx.cluster, health=getattr(actor_system.storage, "health", None))
    app.add_middleware(RequestLimits, limits=limits or Limits())  # before auth reads a body
    app.state.metrics = counters = metrics.Metrics(actor_system)
    app.add_middleware(metrics.RequestMetrics, metrics=counters)  # counts 401s too
    config_path = actor_system.settings.config_path
    with_auth = None
    if authorizer is not None:
        with_auth = lambda inner: AuthMiddleware(inner, authorizer=authorizer, system=actor_system)  # noqa: E731
    served = apply_http_config(app, http_config(config_path), config_path, with_auth)
    # Outermost, around the custom app and the mount prefix too: preflights are answered before
    # auth, and every answer (401s too) carries the headers.
    return CorsApp(served, **cors_options(config_path))  # type: ignore[return-value]
