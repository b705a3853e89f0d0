"""`GET /metrics`: the system's numbers in the Prometheus text format (or JSON with `?format=json`).

Gauges are read from the actor system when scraped (threads and runs by status, live thread
actors, open run streams, crons); HTTP requests are counted by a small ASGI middleware, labelled
with the route's path template (never the raw path, so ids do not explode the label space).
Everything is registered in a registry of the app's own, so several apps can live in one process.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any, Literal, get_args

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.errors import InvalidInput
from actors.models import RunStatus

from .http import JSONResponse, door
from .openapi import responds
from .routing import PUBLIC, Route


def system_numbers(system: Any) -> dict[str, Any]:
    """The gauges, as plain values (shared by both output formats)."""
    storage = system.storage
    thread_status = Tally(t.status for t in storage.list_threads())
    # one look-up per status, not one per thread: a scrape costs the same with 10 or 100,000 threads
    run_status = {status: n for status in get_args(RunStatus) if (n := len(storage.runs_with_status(status)))}
    crons = storage.list_crons()
    return {
        "threads": dict(thread_status),
        "runs": dict(run_status),
        "thread_actors_live": system.live_thread_actors(),
        "run_streams_open": len(system.ctx.streams),
        "protocol_buffers": system.ctx.protocol.sizes(),
        "crons": {"enabled": sum(c.enabled for c in crons), "disabled": sum(not c.enabled for c in crons)},
        "cron_runs_requested": system.crons.fired,
        "graphs": len(system.graph_ids),
    }


class SystemCollector(Collector):
    def __init__(self, system: Any) -> None:
        self.system = system

    def collect(self) -> Iterator[Any]:
        numbers = system_numbers(self.system)
        threads = GaugeMetricFamily("switchboard_threads", "Threads by status.", labels=["status"])
        for status in ("idle", "busy", "interrupted", "error"):
            threads.add_metric([status], numbers["threads"].get(status, 0))
        yield threads
        runs = GaugeMetricFamily("switchboard_runs", "Runs kept in storage, by status.", labels=["status"])
        for status in ("pending", "running", "success", "error", "interrupted", "timeout"):
            runs.add_metric([status], numbers["runs"].get(status, 0))
        yield runs
        yield GaugeMetricFamily(
            "switchboard_thread_actors_live", "Thread actors in memory (idle ones are passivated).",
            value=numbers["thread_actors_live"],
        )
        yield GaugeMetricFamily("switchboard_run_streams_open", "Run event streams open.", value=numbers["run_streams_open"])
        buffers = numbers["protocol_buffers"]
        yield GaugeMetricFamily("switchboard_protocol_buffers", "Protocol v2 replay buffers (one per followed thread).", value=buffers["buffers"])
        yield GaugeMetricFamily("switchboard_protocol_buffer_events", "Events kept by protocol v2 replay buffers.", value=buffers["events"])
        yield GaugeMetricFamily("switchboard_protocol_buffer_bytes", "Bytes of the events protocol v2 replay buffers keep.", value=buffers["bytes"])
        crons = GaugeMetricFamily("switchboard_crons", "Crons by state.", labels=["state"])
        for state, value in numbers["crons"].items():
            crons.add_metric([state], value)
        yield crons
        yield CounterMetricFamily(
            "switchboard_cron_runs_requested", "Runs requested by crons since start.", value=numbers["cron_runs_requested"]
        )
        yield GaugeMetricFamily("switchboard_graphs", "Graphs served.", value=numbers["graphs"])


class Metrics:
    """The app's registry: system gauges plus HTTP request counts and durations."""

    def __init__(self, system: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(SystemCollector(system))
        self.requests = Counter(
            "switchboard_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "switchboard_http_request_duration_seconds", "Time to the response's first byte.",
            ["method", "route"], registry=self.registry,
        )
        self.system = system

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _route_template(scope: Scope) -> str:
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return "unmatched"
    for route in getattr(app, "routes", ()):
        if isinstance(route, Route) and route.endpoint is endpoint:
            return route.path
    return getattr(endpoint, "__name__", "unknown")


class RequestMetrics:
    """ASGI middleware: count every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.metrics.latency.labels(scope["method"], _route_template(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.metrics.requests.labels(scope["method"], _route_template(scope), str(status)).inc()


@responds(dict[str, Any] | str, media_type=("text/plain", "application/json"), query={"format": Literal["prometheus", "json"]})
async def metrics(request: Request) -> Response:
    fmt = request.query_params.get("format", "prometheus")
    registry: Metrics = request.app.state.metrics
    if fmt == "json":
        return JSONResponse(await door(request).call(system_numbers, request.app.state.system))
    if fmt != "prometheus":
        raise InvalidInput(f"format: {fmt!r} is not one of ['prometheus', 'json']")
    return Response(await door(request).call(registry.render), media_type=CONTENT_TYPE_LATEST)  # reads storage


routes = [Route("/metrics", metrics, methods=["GET"], auth=PUBLIC)]
