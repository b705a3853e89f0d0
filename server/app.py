"""The Starlette application: route tables, the error table, and the actor system's lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from langgraph_sdk import Auth

from actors import ActorSystem
from actors.auth import Authorizer, authorizer_from_config

from . import metrics
from .auth import AuthMiddleware
from .errors import EXCEPTION_HANDLERS
from .routes import assistants, crons, meta, runs, store, system, threads


def create_app(actor_system: ActorSystem, *, own_system: bool = True, auth: Auth | None = None) -> Starlette:
    """An ASGI app serving `actor_system`; with `own_system`, shutting the app down shuts it down.

    Auth is on when `auth` is given, or when the system's langgraph.json has an `auth` section."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_system:
                actor_system.shutdown()

    counters = metrics.Metrics(actor_system)
    middleware = [Middleware(metrics.RequestMetrics, metrics=counters)]
    authorizer = Authorizer(auth) if auth is not None else authorizer_from_config(actor_system.settings.config_path)
    if authorizer is not None:
        middleware.append(Middleware(AuthMiddleware, authorizer=authorizer, system=actor_system))
    app = Starlette(
        routes=[*system.routes, *crons.routes, *assistants.routes, *threads.routes, *runs.routes, *store.routes]
        + [*meta.routes, *metrics.routes],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.system = actor_system
    app.state.metrics = counters
    app.state.auth = authorizer
    return app
