"""The Starlette application: route tables, the error table, and the actor system's lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from actors import ActorSystem

from . import metrics
from .errors import EXCEPTION_HANDLERS
from .routes import assistants, crons, meta, runs, store, system, threads


def create_app(actor_system: ActorSystem, *, own_system: bool = True) -> Starlette:
    """An ASGI app serving `actor_system`; with `own_system`, shutting the app down shuts it down."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_system:
                actor_system.shutdown()

    counters = metrics.Metrics(actor_system)
    app = Starlette(
        routes=[*system.routes, *crons.routes, *assistants.routes, *threads.routes, *runs.routes, *store.routes]
        + [*meta.routes, *metrics.routes],
        middleware=[Middleware(metrics.RequestMetrics, metrics=counters)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.system = actor_system
    app.state.metrics = counters
    return app
