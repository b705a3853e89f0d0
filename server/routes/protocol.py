"""Protocol v2 (`@langchain/react`, `client.threads.stream`): commands, the SSE event stream and
the WebSocket of a thread. The logic is in actors/protocol_*.py; here bytes become values."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from actors.kernel import serde
from actors.errors import InvalidInput
from actors.protocol_commands import ProtocolCommands, error_reply, malformed
from actors.protocol_log import Entry, EventFilter, ProtocolLog, ResumeGap, check_channels

from ..http import JSONResponse, decode_body, path_id
from ..openapi import responds
from ..errors import status_of
from ..routing import Access, Route
from ..schemas import ProtocolStreamRequest

ALLOWED = "values, updates, messages, tools, custom, lifecycle, input, checkpoints, tasks, or any `custom:<name>`"


def _commands(app: Any) -> ProtocolCommands:
    return ProtocolCommands(app.state.system.door, create_threads=app.state.auth is None, status_of=status_of)


def _filter(channels: Any, namespaces: Any = None, depth: Any = None) -> EventFilter | str:
    """The filter a request asks for, or what is wrong with it."""
    if not isinstance(channels, list) or not channels:
        return "channels is required and must be a non-empty array"
    bad = check_channels(channels)
    if bad:
        return f"channels contains unsupported entries: {', '.join(bad[:5])}. Allowed: {ALLOWED}."
    prefixes = None
    if isinstance(namespaces, list) and namespaces:
        if not all(isinstance(ns, list) and all(isinstance(s, str) for s in ns) for ns in namespaces):
            return "namespaces must be an array of arrays of strings"
        prefixes = tuple(tuple(ns) for ns in namespaces)
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        return "depth must be an integer >= 0"
    return EventFilter(frozenset(channels), prefixes, depth)


# --- POST /threads/{thread_id}/commands ------------------------------------------------------------


@responds(dict[str, Any], also=(400, 413))
async def command(request: Request) -> Response:
    thread_id = path_id(request, "thread_id")
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"detail": "Invalid JSON body"}, status_code=400)
    problem = malformed(payload)
    if problem is not None:
        return JSONResponse(problem, status_code=400)
    return JSONResponse(await _commands(request.app).handle(thread_id, payload))


# --- POST /threads/{thread_id}/stream/events (SSE) -------------------------------------------------


class _Reader:
    """Entries of a log handed over (under the log's lock, from any thread) to an asyncio reader."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Entry | None] = asyncio.Queue()

    def deliver(self, entry: Entry | None) -> None:
        with contextlib.suppress(RuntimeError):  # the reader's loop is gone: nobody reads any more
            self.loop.call_soon_threadsafe(self.queue.put_nowait, entry)


@responds(str, media_type="text/event-stream")
async def stream_events(request: Request) -> Response:
    thread_id = path_id(request, "thread_id")
    body = await decode_body(request, ProtocolStreamRequest)
    wanted = _filter(body.channels, body.namespaces, body.depth)
    if isinstance(wanted, str):
        return JSONResponse({"detail": wanted}, status_code=400)
    log = request.app.state.system.ctx.protocol.get(thread_id)
    reader = _Reader()
    try:
        unsubscribe, _ = log.subscribe(reader.deliver, wanted.matches, since=body.since)
    except ResumeGap as gap:
        return _gap_stream(gap)

    async def frames() -> AsyncIterator[dict[str, str]]:
        try:
            while (entry := await reader.queue.get()) is not None:
                yield {"event": entry.method, "data": entry.body.decode(), "id": str(entry.seq)}
        finally:
            unsubscribe()

    return EventSourceResponse(frames(), ping=15, sep="\n", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _gap_body(gap: ResumeGap, command_id: int | None = None) -> dict[str, Any]:
    return error_reply(command_id, "resume_gap", str(gap), since=gap.since, min_available_seq=gap.min_available_seq)


def _gap_stream(gap: ResumeGap) -> Response:
    """A stream of one `error` event: the reader asked to resume after events no longer kept."""

    async def frames() -> AsyncIterator[dict[str, str]]:
        yield {"event": "error", "data": json.dumps(_gap_body(gap))}

    return EventSourceResponse(frames(), sep="\n")


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# --- WebSocket /threads/{thread_id}/stream/events --------------------------------------------------


class _Connection:
    """One protocol WebSocket: its subscriptions (filters over the thread's log) and commands."""

    def __init__(self, websocket: WebSocket, thread_id: str) -> None:
        self.ws = websocket
        self.thread_id = thread_id
        self.log: ProtocolLog = websocket.app.state.system.ctx.protocol.get(thread_id)
        self.commands = _commands(websocket.app)
        self.filters: dict[str, EventFilter] = {}
        self.outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self._detach: Any = None
        self._next_sub = 0

    def _push(self, entry: Entry | None) -> None:
        item = entry.body if entry is not None else None
        if _on_loop(self.loop):  # a replay, from this connection's own command: before its reply
            self.outbox.put_nowait(item)
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, item)

    def _live(self, entry: Entry) -> bool:
        return any(f.matches(entry) for f in self.filters.values())

    def subscribe(self, wanted: EventFilter, since: int | None) -> tuple[str, int]:
        """Replay what the new filter wants, then keep it live; one copy of each live event goes
        out however many subscriptions want it."""
        self._next_sub += 1
        sub_id = f"sub-{self._next_sub}"
        with self.log.lock:
            backlog = self.log.backlog(wanted.matches, since)
            for entry in backlog:
                self._push(entry)
            self.filters[sub_id] = wanted
            if self._detach is None:
                self._detach, _ = self.log.subscribe(self._push, self._live, since=self.log.last_seq)
        return sub_id, len(backlog)

    async def answer(self, payload: Any) -> dict[str, Any]:
        problem = malformed(payload)
        if problem is not None:
            return problem
        method, params, command_id = payload["method"], payload.get("params") or {}, payload["id"]
        if not isinstance(params, dict):
            return error_reply(command_id, "invalid_argument", f"{method}: params must be an object")
        meta = {"applied_through_seq": self.log.last_seq}
        if method in ("subscription.subscribe", "subscription.reconnect"):
            wanted = _filter(params.get("channels"), params.get("namespaces"), params.get("depth"))
            if isinstance(wanted, str):
                return {**error_reply(command_id, "invalid_argument", f"{method}: {wanted}"), "meta": meta}
            since = _since(params, method)
            if isinstance(since, str):
                return {**error_reply(command_id, "invalid_argument", since), "meta": meta}
            try:
                sub_id, replayed = self.subscribe(wanted, since)
            except ResumeGap as gap:
                return {**_gap_body(gap, command_id), "meta": meta}
            meta = {"applied_through_seq": self.log.last_seq}
            if method == "subscription.reconnect":
                return {"type": "success", "id": command_id, "result": {"restored": True, "missed_events": replayed, "subscription_id": sub_id}, "meta": meta}
            return {"type": "success", "id": command_id, "result": {"subscription_id": sub_id, "replayed_events": replayed}, "meta": meta}
        if method == "subscription.unsubscribe":
            sub_id = params.get("subscription_id")
            with self.log.lock:
                found = self.filters.pop(sub_id, None) if isinstance(sub_id, str) else None
            if found is None:
                return {**error_reply(command_id, "no_such_subscription", f"Unknown subscription: {sub_id}"), "meta": meta}
            return {"type": "success", "id": command_id, "result": {}, "meta": meta}
        return await self.commands.handle(self.thread_id, payload)

    async def serve(self) -> None:
        sender = asyncio.create_task(self._send_all())
        try:
            while True:
                text = await self.ws.receive_text()
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = None
                reply = await self.answer(payload)
                self.outbox.put_nowait(serde.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            if self._detach is not None:
                self._detach()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send_all(self) -> None:
        while (item := await self.outbox.get()) is not None:
            await self.ws.send_text(item.decode())
        await self.ws.close(1000)  # the thread was deleted: its log is closed


def _since(params: dict[str, Any], method: str) -> int | None | str:
    """`since` (a seq) of a subscribe, or of a reconnect its `last_event_id` (`<epoch>-<seq>`)."""
    since = params.get("since")
    if since is None and method == "subscription.reconnect" and isinstance(params.get("last_event_id"), str):
        since = params["last_event_id"].rpartition("-")[2]
        since = int(since) if since.isdigit() else None
    if since is None:
        return None
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        return f"{method}: since must be an integer >= 0"
    return since


async def websocket_events(websocket: WebSocket) -> None:
    # Refusals accept first, then close with 4000 + the HTTP status: the SDK reads that code as
    # final (a handshake refused with a plain 403 only looks like a network error to it).
    await websocket.accept()
    if websocket.app.state.auth is not None:
        # The auth middleware sees HTTP requests only: rather no socket than an unchecked one.
        await websocket.close(code=4403, reason="the protocol WebSocket is not served with auth on; use SSE")
        return
    try:
        thread_id = path_id(websocket, "thread_id")  # type: ignore[arg-type]
    except InvalidInput:
        await websocket.close(code=4422, reason="thread_id: must be a UUID")
        return
    await _Connection(websocket, thread_id).serve()


_websocket = WebSocketRoute("/threads/{thread_id}/stream/events", websocket_events)
_websocket.access = Access("threads", "read", "object")  # type: ignore[attr-defined] # refused with auth on (above)

routes = [
    # run.start and input.respond create runs on the thread in the path; the thread must be the user's.
    Route("/threads/{thread_id}/commands", command, methods=["POST"], auth=Access("threads", "create_run", "object")),
    Route("/threads/{thread_id}/stream/events", stream_events, methods=["POST"], auth=Access("threads", "read", "object")),
    _websocket,
]
