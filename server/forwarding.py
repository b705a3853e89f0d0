"""Cluster mode: requests for a thread are served by the process that owns it (actors/cluster/).

An ASGI middleware in front of the routes. For `/threads/{thread_id}/...` it asks the router where
the thread is served: here (owned, or no live owner and just taken) -> the app; a live peer -> the
request is proxied to the peer's internal listener (its advertise URL) with httpx, streaming the
response back as it comes (SSE, `Last-Event-ID` and every other header kept); protocol v2's
WebSocket is relayed (ws_forwarding.py); requests on many threads are split by owner (fanout.py).
A hop header marks a forwarded request; a peer that no longer owns the thread re-routes it once,
never in a loop.

If the peer does not answer - it died (connection refused or dropped) or it lost the thread (its
lease lapsed while it was paused or cut off: checked every half lease while a request waits) - an
idempotent request (a GET: join, stream, state; history) waits until the thread has a live owner
again and goes there; other requests get 503 + Retry-After. A peer that dies or loses the thread
mid-response ends the response.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx

from actors.cluster import routing

from . import fanout, ws_forwarding
from .http import JSONResponse

log = logging.getLogger("switchboard.cluster")

THREAD_PATH = re.compile(r"^/threads/([^/]+)(?:/|$)")
NOT_A_THREAD = frozenset({"search", "count", "prune"})
HOP = routing.HOP.encode()
MAX_HOPS = 2
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
     b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)
READ_ONLY_POSTS = ("/history", "/state/checkpoint")


def thread_of(path: str) -> str | None:
    match = THREAD_PATH.match(path)
    if match is None or match.group(1) in NOT_A_THREAD:
        return None
    return match.group(1)


def idempotent(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") or (method == "POST" and path.endswith(READ_ONLY_POSTS))


class Forwarding:
    def __init__(self, app: Any, node: Any, health: Any = None) -> None:
        self.app = app
        self.node = node
        self.health = health
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self.forwarded = 0
        self.fanout = fanout.Fanout(self)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and (thread_id := thread_of(scope["path"])) is not None:
            await self._websocket(scope, receive, send, thread_id)
            return
        if scope["type"] != "http" or (self.health is not None and not self.health.up):
            await self.app(scope, receive, send)  # not HTTP, or the gate answers 503
            return
        hops = _hops(scope)
        if scope["method"] == "POST" and scope["path"] in fanout.PATHS and hops == 0:  # many threads at once
            await self.fanout(scope, receive, send, await _read_body(receive))
            return
        thread_id = thread_of(scope["path"])
        if thread_id is None:
            await self.app(scope, receive, send)  # not a thread's request
            return
        url = await self.route(thread_id, hops)
        if url is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        await self._forward(scope, body, url, hops + 1, thread_id, receive, send)

    async def serve_thread(self, scope: Any, body: bytes, thread_id: str, receive: Any, send: Any) -> None:
        """A request (its body already read) that concerns one thread: served by its owner."""
        hops = _hops(scope)
        url = await self.route(thread_id, hops)
        if url is None:
            await self.app(scope, _replay(body, receive), send)
        else:
            await self._forward(scope, body, url, hops + 1, thread_id, receive, send)

    async def route(self, thread_id: str, hops: int) -> str | None:
        """Where the thread's request is served: None here, else the owner's URL."""
        if hops >= MAX_HOPS or self.node.ownership.owns(thread_id, wait=False):  # no wait on the loop
            return None
        try:
            return await asyncio.to_thread(self.node.router.route, thread_id)
        except Exception:  # noqa: BLE001 - the database is away: served here, the gate says 503
            log.warning("cluster: routing thread %s failed", thread_id, exc_info=True)
            return None

    async def _websocket(self, scope: Any, receive: Any, send: Any, thread_id: str) -> None:
        """Protocol v2's WebSocket: served here, or relayed to the owner (a dead one's thread: to its
        next owner, once there is one, as an idempotent request)."""
        hops = _hops(scope)
        url = await self.route(thread_id, hops)
        if url is None:
            await self.app(scope, receive, send)
            return
        connected = await receive()
        if connected["type"] != "websocket.connect":
            return
        if await ws_forwarding.relay(scope, receive, send, url, HOP, hops + 1):
            return
        try:
            url = await asyncio.to_thread(self.node.router.reroute, thread_id, url)
        except Exception as exc:  # noqa: BLE001 - still no owner after two leases, or no database
            await ws_forwarding.refuse(send, f"thread {thread_id}: {exc}"[:120])
            return
        if url is None:
            await self.app(scope, _replay_message(connected, receive), send)
        elif not await ws_forwarding.relay(scope, receive, send, url, HOP, hops + 1):
            await ws_forwarding.refuse(send, "the process serving this thread did not answer; retry")

    @staticmethod
    def replay(body: bytes, receive: Any) -> Any:
        return _replay(body, receive)

    async def _forward(self, scope: Any, body: bytes, url: str, hops: int, thread_id: str, receive: Any, send: Any) -> None:
        client = self.client()
        query = scope.get("query_string") or b""
        target = url + scope["path"] + (("?" + query.decode("latin-1")) if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP and k != HOP]
        headers.append((HOP, str(hops).encode()))
        sending = asyncio.ensure_future(
            client.send(client.build_request(scope["method"], target, headers=headers, content=body), stream=True)
        )
        moved = asyncio.ensure_future(self._owner_moved(thread_id, url))
        await asyncio.wait({sending, moved}, return_when=asyncio.FIRST_COMPLETED)
        failure = None
        if not sending.done():  # the owner stopped answering and lost the thread (paused, cut off)
            sending.cancel()
            failure = "lost the thread"
        else:
            try:
                response = sending.result()
            except httpx.TransportError as exc:
                failure = type(exc).__name__
        if failure is not None:
            moved.cancel()
            log.warning("cluster: %s %s: the owner at %s did not answer (%s)", scope["method"], scope["path"], url, failure)
            await self._reroute(scope, body, url, hops, thread_id, receive, send, failure)
            return
        self.forwarded += 1
        try:
            await send({
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP or k.lower() == b"content-length"],
            })
            pump = asyncio.ensure_future(_pump(response, send))
            gone = asyncio.ensure_future(_disconnected(receive))
            done, pending = await asyncio.wait({pump, gone, moved}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if pump in done and pump.exception() is not None:
                log.warning("cluster: forwarded response for thread %s broke off: %s", thread_id, pump.exception())
        finally:
            moved.cancel()
            await response.aclose()

    async def _reroute(
        self, scope: Any, body: bytes, url: str, hops: int, thread_id: str, receive: Any, send: Any, failure: str
    ) -> None:
        """The owner at `url` did not answer: an idempotent request goes to the next owner (here, if
        this process takes the thread), once there is one; others get 503 + Retry-After."""
        if not idempotent(scope["method"], scope["path"]):
            await _unavailable(scope, receive, send, f"the process serving thread {thread_id} did not answer ({failure}); retry")
            return
        try:
            url2 = await asyncio.to_thread(self.node.router.reroute, thread_id, url)
        except Exception as reroute_error:  # noqa: BLE001 - still no owner after two leases, or no database
            await _unavailable(scope, receive, send, f"thread {thread_id}: {reroute_error}")
            return
        if url2 is None:
            await self.app(scope, _replay(body, receive), send)
        else:
            await self._forward(scope, body, url2, hops, thread_id, receive, send)

    async def _owner_moved(self, thread_id: str, url: str) -> None:
        """Returns once the peer at `url` no longer owns the thread live (checked every half lease):
        a peer that is paused or cut off answers nothing, and must not hold its callers forever."""
        while True:
            await asyncio.sleep(self.node.lease / 2)
            try:
                owner = await asyncio.to_thread(self.node.ownership.where, thread_id)
            except Exception:  # noqa: BLE001 - the database is away: nobody can take the thread either
                continue
            if owner is None or owner.advertise_url != url:
                return

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
            client = self._clients[loop] = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=3.0), limits=limits)
        return client


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _hops(scope: Any) -> int:
    return next((int(v) for k, v in scope["headers"] if k == HOP and v.isdigit()), 0)


def _replay(body: bytes, receive: Any) -> Any:
    return _replay_message({"type": "http.request", "body": body, "more_body": False}, receive)


def _replay_message(first: Any, receive: Any) -> Any:
    """`receive` that gives `first` again (already read here), then what `receive` gives."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return first
        return await receive()

    return replay


async def _pump(response: httpx.Response, send: Any) -> None:
    try:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # noqa: BLE001 - the client has gone
            pass


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unavailable(scope: Any, receive: Any, send: Any, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})
    await response(scope, receive, send)
