"""Cluster mode: protocol v2's WebSocket (`/threads/{id}/stream/events`) on a thread a peer owns is
relayed to that peer (server/forwarding.py routes it). This process opens the same WebSocket on the
peer's internal listener (the hop header set, the client's headers kept) and, once the peer has
accepted it, accepts the client's and copies messages both ways until either side closes; the close
code and reason go through. A peer that cannot be reached is treated as an idempotent request's
(forwarding.py): once the thread has another owner the WebSocket goes there (or is served here); a
peer that dies mid-session closes the client's WebSocket with 1013 (try again later)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("switchboard.cluster")

TRY_AGAIN_LATER = 1013
SKIPPED = frozenset({
    b"host", b"connection", b"upgrade", b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
    b"sec-websocket-protocol", b"content-length",
})


async def relay(scope: Any, receive: Any, send: Any, url: str, hop_header: bytes, hops: int) -> bool:
    """Relay the client's WebSocket (its `websocket.connect` already received) to the peer at `url`;
    False if the peer did not accept it (nothing was sent to the client: the caller decides)."""
    query = scope.get("query_string") or b""
    target = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + scope["path"]
    target += ("?" + query.decode("latin-1")) if query else ""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k.lower() not in SKIPPED and k != hop_header]
    headers.append((hop_header.decode(), str(hops)))
    try:
        upstream = await connect(
            target, additional_headers=headers, subprotocols=scope.get("subprotocols") or None,
            open_timeout=5, max_size=None, compression=None,
        )
    except Exception as exc:  # noqa: BLE001 - refused (InvalidStatus), unreachable (OSError), timed out
        log.warning("cluster: WebSocket %s: the owner at %s did not accept it (%s)", scope["path"], url, exc)
        return False
    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
    async with upstream:
        to_peer = asyncio.ensure_future(_client_to_peer(receive, upstream))
        to_client = asyncio.ensure_future(_peer_to_client(upstream, send))
        done, pending = await asyncio.wait({to_peer, to_client}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return True


async def refuse(send: Any, reason: str) -> None:
    await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": reason})


async def _client_to_peer(receive: Any, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code") or 1000
            await upstream.close(code=1000 if code in (1005, 1006) else code)
            return
        if message["type"] == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else message.get("bytes") or b"")


async def _peer_to_client(upstream: ClientConnection, send: Any) -> None:
    try:
        async for message in upstream:
            if isinstance(message, str):
                await send({"type": "websocket.send", "text": message})
            else:
                await send({"type": "websocket.send", "bytes": message})
    except ConnectionClosed:
        pass
    code, reason = upstream.close_code or 1006, upstream.close_reason or ""
    if code == 1005:  # closed without a code
        code = 1000
    elif code == 1006:  # the peer died or the connection broke: the thread will have another owner
        code, reason = TRY_AGAIN_LATER, "the process serving this thread went away; reconnect"
    try:
        await send({"type": "websocket.close", "code": code, "reason": reason})
    except Exception:  # noqa: BLE001 - the client has gone too
        pass
