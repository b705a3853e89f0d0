"""`langgraph_sdk.get_client()` with no URL, inside a graph node or a custom route, reaches us.

The SDK's in-process client is an `httpx.ASGITransport` (base URL `http://api`, root path
`/noauth`). It first tries `from langgraph_api.server import app` (the reference server); when that
fails it leaves the transport's app empty and records it, for the server to fill in with
`configure_loopback_transports(app)`. We are that server: at start-up we fill in the transports
made so far (clients created while graphs were imported) and make every later one (a client
created inside a node) get the app the moment it is made. Requests through it run on the
caller's event loop (the graph loop, for a node) and skip auth, as on the reference (`/noauth`).
httpx's own ASGI transport reads a response to its end before returning it, so each transport is
also made a `StreamingASGITransport`: a streamed run's events arrive as they happen, as they do
through the reference's transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx

log = logging.getLogger("switchboard")

_END = object()


class StreamingASGITransport(httpx.ASGITransport):
    """httpx's ASGI transport, but the response is returned once it starts, its body streamed."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "headers": [(k.lower(), v) for (k, v) in request.headers.raw], "scheme": request.url.scheme,
            "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query, "server": (request.url.host, request.url.port),
            "client": self.client, "root_path": self.root_path,
        }
        body = request.stream.__aiter__()
        request_read = False
        started: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        closed = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal request_read
            if request_read:
                await closed.wait()  # the reader went away: the app sees a disconnect
                return {"type": "http.disconnect"}
            try:
                part = await body.__anext__()
            except StopAsyncIteration:
                request_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": part, "more_body": True}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and not started.done():
                started.set_result((message["status"], message.get("headers", [])))
            elif message["type"] == "http.response.body":
                if message.get("body") and request.method != "HEAD":
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(_END)

        async def serve() -> None:
            try:
                await self.app(scope, receive, send)
            except Exception as exc:  # noqa: BLE001 - handed to whoever reads the response
                if not started.done():
                    started.set_exception(exc)
                chunks.put_nowait(exc)
            finally:
                chunks.put_nowait(_END)

        task = asyncio.create_task(serve())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_Body(chunks, closed, task))


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[Any], closed: asyncio.Event, task: asyncio.Task[None]) -> None:
        self.chunks, self.closed, self.task = chunks, closed, task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.chunks.get()) is not _END:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    async def aclose(self) -> None:
        self.closed.set()
        if not self.task.done():  # a stream left early: the app saw the disconnect; give it a moment
            await asyncio.wait({self.task}, timeout=5)
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def _serve(transport: Any, app: Any) -> None:
    transport.app = app
    if type(transport) is httpx.ASGITransport:  # the SDK's choice when the reference is not installed
        transport.__class__ = StreamingASGITransport


class _FilledTransports(list):  # type: ignore[type-arg]
    """The SDK's list of waiting transports, each given the app as it is added."""

    def __init__(self, app: Any, waiting: list[Any]) -> None:
        super().__init__()
        self.app = app
        for transport in waiting:
            self.append(transport)

    def append(self, transport: Any) -> None:
        _serve(transport, self.app)  # nothing waits: it is served from now on


def serve_loopback_clients(app: Any) -> None:
    try:
        from langgraph_sdk._async import client as sdk_client
        from langgraph_sdk._shared import utilities
    except ImportError:  # an SDK without in-process clients
        return
    waiting = getattr(sdk_client, "_registered_transports", None)
    if not isinstance(waiting, list):
        log.warning("langgraph_sdk has no _registered_transports: get_client() without a URL will not reach us")
        return
    filled = _FilledTransports(app, waiting)  # the ones made so far (while graphs were imported)
    sdk_client._registered_transports = filled  # get_client() looks the list up here at each call
    utilities._registered_transports = filled
