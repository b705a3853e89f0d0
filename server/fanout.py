"""Cluster mode: the requests that reach many threads at once - `POST /runs/cancel` and `POST
/threads/prune` - are split by thread owner (server/forwarding.py calls this).

The process that gets one reads which threads it touches, asks the router where each is served and
sends each owner its part (with the client's headers, so auth is checked there as here): its own
part goes to the app here, a peer's part to the peer's internal listener with the hop header (the
peer serves it, never splits it again). The answer is the single-process one: 204 for a cancel, the
summed `pruned_count` for a prune, or the first part's error. A request this code cannot split (a
body the app will refuse, a cancel on one `thread_id`, nothing to reach) goes to the app as it came,
or for one thread to its owner, so the errors are the app's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import defaultdict
from typing import Any

from .http import JSONResponse, Response

log = logging.getLogger("switchboard.cluster")

CANCEL, PRUNE = "/runs/cancel", "/threads/prune"
PATHS = frozenset({CANCEL, PRUNE})
STATUSES = {None: ("pending", "running"), "all": ("pending", "running"), "pending": ("pending",), "running": ("running",)}


def _uuids(values: Any) -> list[str] | None:
    """The ids normalised as the routes do (`uuid_field`), or None if one is not a UUID string."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    try:
        return [str(uuid.UUID(v)) for v in values]
    except ValueError:
        return None


def cancel_targets(storage: Any, body: Any) -> dict[str, list[str]] | None:
    """Run ids to cancel by thread (None: leave the request to the app as it came)."""
    if not isinstance(body, dict) or body.get("thread_id") is not None or set(body) - {"thread_id", "run_ids", "status"}:
        return None
    status, run_ids = body.get("status"), body.get("run_ids")
    if run_ids is not None and (run_ids := _uuids(run_ids)) is None:
        return None
    if status not in STATUSES or (not run_ids and status is None):
        return None
    wanted = STATUSES[status]
    runs = [storage.get_run(r) for r in run_ids] if run_ids else [r for s in wanted for r in storage.runs_with_status(s)]
    by_thread: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if run is not None and run.status in wanted:
            by_thread[run.thread_id].append(run.run_id)
    return dict(by_thread)


def prune_targets(storage: Any, body: Any) -> dict[str, list[str]] | None:
    """The known threads to prune, each its own part (None: leave the request to the app)."""
    if not isinstance(body, dict) or set(body) - {"thread_ids", "strategy"}:
        return None
    thread_ids = _uuids(body.get("thread_ids"))
    if thread_ids is None or body.get("strategy", "delete") not in ("delete", "keep_latest"):
        return None
    return {t: [t] for t in dict.fromkeys(thread_ids) if storage.get_thread(t) is not None}


def part_body(path: str, body: dict[str, Any], ids: list[str]) -> bytes:
    if path == CANCEL:
        part = {"run_ids": ids, **({"status": body["status"]} if body.get("status") else {})}
    else:
        part = {"thread_ids": ids, "strategy": body.get("strategy", "delete")}
    return json.dumps(part).encode()


class Fanout:
    """Splits one many-thread request by owner; `forwarding` is the Forwarding middleware (its app,
    router and peer client)."""

    def __init__(self, forwarding: Any) -> None:
        self.fw = forwarding

    async def __call__(self, scope: Any, receive: Any, send: Any, body: bytes) -> None:
        fw = self.fw
        path = scope["path"]
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        one = _uuids([parsed.get("thread_id")]) if path == CANCEL and isinstance(parsed, dict) else None
        if one is not None:  # a cancel on one thread: served by its owner, as a thread's request
            await fw.serve_thread(scope, body, one[0], receive, send)
            return
        targets = cancel_targets if path == CANCEL else prune_targets
        try:
            by_thread = await asyncio.to_thread(targets, fw.node.ctx.storage, parsed)
        except Exception:  # noqa: BLE001 - storage is away: the app answers (the gate's 503)
            log.warning("cluster: %s: looking up its threads failed", path, exc_info=True)
            by_thread = None
        if not by_thread:  # nothing to split (or a body the app refuses): the app answers as in one process
            await fw.app(scope, fw.replay(body, receive), send)
            return
        parts: dict[str | None, list[str]] = defaultdict(list)
        for thread_id, ids in by_thread.items():
            parts[await fw.route(thread_id, 0)].extend(ids)
        answers = await asyncio.gather(*(self._part(scope, url, part_body(path, parsed, ids)) for url, ids in parts.items()))
        failed = next(((status, headers, content) for status, headers, content in answers if status >= 300), None)
        if failed is not None:
            status, headers, content = failed
            response: Response = Response(content, status_code=status, headers=headers)
        elif path == CANCEL:
            response = Response(status_code=204)
        else:
            response = JSONResponse({"pruned_count": sum(json.loads(content)["pruned_count"] for _s, _h, content in answers)})
        await response(scope, receive, send)

    async def _part(self, scope: Any, url: str | None, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """One owner's part: (status, headers worth relaying, body)."""
        if url is None:
            return await self._here(scope, body)
        from .forwarding import HOP, HOP_BY_HOP  # (imported late: forwarding imports this module)

        query = scope.get("query_string") or b""
        target = url + scope["path"] + (("?" + query.decode("latin-1")) if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP and k != HOP] + [(HOP, b"1")]
        try:
            answer = await self.fw.client().post(target, headers=headers, content=body)
        except Exception as exc:  # noqa: BLE001 - the owner died meanwhile: retried, its part reaches the taker
            detail = json.dumps({"detail": f"the process at {url} did not answer ({type(exc).__name__}); retry"}).encode()
            return 503, {"content-type": "application/json", "retry-after": "1"}, detail
        return answer.status_code, _relayed(answer.headers.items()), answer.content

    async def _here(self, scope: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        sub = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.fw.app(sub, self.fw.replay(body, _never), send)
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in started.get("headers", [])]
        return started.get("status", 500), _relayed(raw), b"".join(chunks)


async def _never() -> Any:
    await asyncio.Event().wait()  # after the body, no disconnect comes: the part is answered in full


def _relayed(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers if k.lower() in ("content-type", "retry-after", "www-authenticate")}
