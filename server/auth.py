"""Auth at the HTTP edge, in one place: an ASGI middleware that authenticates every request and
authorizes what it touches before any route runs, so no route handler needs to know about auth.

For each request it finds the resource and action in `RULES` (the route table, seen as auth sees
it), runs the user's `@auth.on` handler (`actors/auth.py`), then applies the answer by kind:

- `create`: the (possibly edited) `metadata` of the value, plus the filter's `key == value` parts,
  is written into the request body: a record carries its owner from birth.
- `object`: the record named in the path must pass the filter, else 404 (as if it did not exist).
- `search` / `count`: the whole filter (`$eq` and `$contains`) is combined with the body's own
  `metadata` filter (`actors/filters.py`; a conflicting equality gives an empty answer), so pages
  and counts are exact.
- `store`: the handler may rewrite `namespace` (e.g. prefix the user's id); it is written back.

Public routes (`/ok`, `/info`, `/docs`, `/openapi.json`, `/metrics`) skip auth.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.auth import AuthUser, Authorizer, equalities, matches
from actors.errors import Conflict, Forbidden, NotFound, SwitchboardError
from actors.filters import combine
from actors.models import graph_assistant_id

from .http import JSONResponse

PUBLIC = {"/ok", "/info", "/docs", "/openapi.json", "/metrics"}

ID = r"(?P<id>[^/]+)"
RULES: list[tuple[str, str, str, str, str]] = [
    # method, path regex, resource, action, kind
    ("POST", r"/threads", "threads", "create", "create"),
    ("POST", r"/threads/search", "threads", "search", "search"),
    ("POST", r"/threads/count", "threads", "search", "count"),
    ("POST", r"/threads/prune", "threads", "delete", "ids:thread_ids"),
    ("POST", rf"/threads/{ID}/runs/crons", "crons", "create", "create+thread"),
    ("POST", rf"/threads/{ID}/runs(/stream|/wait)?", "threads", "create_run", "create+thread"),
    ("POST", rf"/threads/{ID}/runs/[^/]+/cancel", "threads", "update", "object"),
    ("DELETE", rf"/threads/{ID}/runs/[^/]+", "threads", "delete", "object"),
    ("PATCH", rf"/threads/{ID}", "threads", "update", "object"),
    ("DELETE", rf"/threads/{ID}", "threads", "delete", "object"),
    ("POST", rf"/threads/{ID}/state", "threads", "update", "object"),
    ("*", rf"/threads/{ID}(/.*)?", "threads", "read", "object"),
    ("POST", r"/runs/crons", "crons", "create", "create"),
    ("POST", r"/runs/crons/search", "crons", "search", "search"),
    ("POST", r"/runs/crons/count", "crons", "search", "count"),
    ("GET", rf"/runs/crons/{ID}", "crons", "read", "object"),
    ("PATCH", rf"/runs/crons/{ID}", "crons", "update", "object"),
    ("DELETE", rf"/runs/crons/{ID}", "crons", "delete", "object"),
    ("POST", r"/runs/cancel", "threads", "update", "ids:thread_id"),
    ("POST", r"/runs/batch", "threads", "create_run", "batch"),
    ("POST", r"/runs(/stream|/wait)?", "threads", "create_run", "create"),
    ("POST", r"/assistants", "assistants", "create", "create"),
    ("POST", r"/assistants/search", "assistants", "search", "search"),
    ("POST", r"/assistants/count", "assistants", "search", "count"),
    ("PATCH", rf"/assistants/{ID}", "assistants", "update", "object"),
    ("DELETE", rf"/assistants/{ID}", "assistants", "delete", "object"),
    ("POST", rf"/assistants/{ID}/latest", "assistants", "update", "object"),
    ("*", rf"/assistants/{ID}(/.*)?", "assistants", "read", "object"),
    ("PUT", r"/store/items", "store", "put", "store"),
    ("GET", r"/store/items", "store", "get", "store"),
    ("DELETE", r"/store/items", "store", "delete", "store"),
    ("POST", r"/store/items/search", "store", "search", "store"),
    ("POST", r"/store/namespaces", "store", "list_namespaces", "store"),
]
COMPILED = [(method, re.compile(pattern + "/?"), resource, action, kind) for method, pattern, resource, action, kind in RULES]


def find_rule(method: str, path: str) -> tuple[str, str, str, str | None] | None:
    method = "GET" if method == "HEAD" else method  # Starlette answers HEAD with the GET route
    for rule_method, pattern, resource, action, kind in COMPILED:
        if rule_method in ("*", method):
            found = pattern.fullmatch(path)
            if found:
                return resource, action, kind, found.groupdict().get("id")
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, authorizer: Authorizer, system: Any) -> None:
        self.app = app
        self.authorizer = authorizer
        self.system = system

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `/noauth`: langgraph_sdk's in-process client (server/loopback.py), trusted as on the reference.
        if scope["type"] != "http" or scope["path"] in PUBLIC or scope.get("root_path") == "/noauth":
            await self.app(scope, receive, send)
            return
        try:
            await self._guarded(scope, receive, send)
        except SwitchboardError as exc:
            headers = getattr(exc, "headers", None)
            await JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = _RequestParts(scope, receive)
        user = await self.authorizer.authenticate(
            headers=request.raw_headers(), authorization=request.header("authorization"),
            path=scope["path"], method=scope["method"], query_params=request.query(), request=Request(scope),
        )
        scope["auth"] = _Credentials(user)
        scope["user"] = user
        rule = find_rule(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        resource, action, kind, object_id = rule
        if kind == "store":
            await self._store(scope, request, user, action, send)
            return
        body = await request.json()
        if body is None and (kind.startswith("create") or kind in ("search", "count")):
            body = {}  # an empty body is an empty request: it gets the owner, and the filter, too
        if kind == "batch":
            items = body if isinstance(body, list) else []
            for item in items:
                if isinstance(item, dict):
                    value = _value(item)
                    self._stamp(item, await self.authorizer.authorize(user, resource, action, value), value)
            await self.app(scope, request.replay(body), send)
            return
        value = _value(body)
        if object_id is not None:
            value["thread_id" if kind == "create+thread" else f"{resource[:-1]}_id"] = object_id
        filters = await self.authorizer.authorize(user, resource, action, value)
        if kind.startswith("create"):
            if kind == "create+thread":  # the thread must be the user's too
                if resource == "threads":
                    self._check("threads", object_id, filters)
                else:
                    await self._check_object("threads", object_id, user)
            if isinstance(body, dict):
                self._refuse_taking_over(resource, body, filters)
                self._stamp(body, filters, value)
        elif kind == "object":
            self._check(resource, object_id, filters)
            if action == "update" and isinstance(body, dict) and "metadata" in body:
                self._stamp(body, filters, value)  # a patch cannot hand the record to someone else
        elif kind.startswith("ids:") and filters:
            field = kind[4:]
            ids = body.get(field) if isinstance(body, dict) else None
            if ids is None:
                raise Forbidden(f"with auth on, {scope['path']} needs {field!r} (only your own threads can be touched)")
            for thread_id in ids if isinstance(ids, list) else [ids]:
                self._check("threads", str(thread_id), filters)
        elif kind in ("search", "count") and filters and isinstance(body, dict) and isinstance(body.get("metadata") or {}, dict):
            combined = combine(body.get("metadata"), filters)
            if combined is None:  # asks for someone else's records only
                await JSONResponse(0 if kind == "count" else [])(scope, receive, send)
                return
            body["metadata"] = combined  # the whole filter: pages and counts are exact
        await self.app(scope, request.replay(body), send)

    def _stamp(self, body: dict[str, Any], filters: dict[str, Any] | None, value: dict[str, Any]) -> None:
        metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        stamped = {**(metadata or {}), **equalities(filters)}
        if stamped or "metadata" in body:
            body["metadata"] = stamped

    def _refuse_taking_over(self, resource: str, body: dict[str, Any], filters: dict[str, Any] | None) -> None:
        """Creating with the id of someone else's record (`if_exists: do_nothing` would return it)."""
        field = f"{resource[:-1]}_id"
        if not filters or resource not in ("threads", "assistants") or not isinstance(body.get(field), str):
            return
        record = self._lookup(resource, body[field])
        if record is not None and not matches(filters, getattr(record, "metadata", None)):
            raise Conflict(f"{resource[:-1].capitalize()} {body[field]} already exists.")

    async def _check_object(self, resource: str, object_id: str | None, user: AuthUser) -> None:
        filters = await self.authorizer.authorize(user, resource, "read", {"thread_id": object_id})
        self._check(resource, object_id, filters)

    def _check(self, resource: str, object_id: str | None, filters: dict[str, Any] | None) -> None:
        if not filters or object_id is None:
            return
        record = self._lookup(resource, object_id)
        if record is not None and not matches(filters, getattr(record, "metadata", None)):
            raise NotFound(f"{resource[:-1].capitalize()} {object_id} not found.")

    def _lookup(self, resource: str, object_id: str) -> Any:
        """The record as the route will find it (routes normalise UUIDs: `ABC...`, `{...}`, no dashes)."""
        storage = self.system.storage
        try:
            object_id = str(uuid.UUID(object_id))
        except ValueError:
            pass  # a graph id standing for its assistant, or an id the route will refuse
        if resource == "threads":
            return storage.get_thread(object_id)
        if resource == "crons":
            return storage.get_cron(object_id)
        if resource == "assistants":
            if object_id in self.system.graph_ids:
                object_id = graph_assistant_id(object_id)
            return storage.get_assistant(object_id)
        return None

    async def _store(self, scope: Scope, request: _RequestParts, user: AuthUser, action: str, send: Send) -> None:
        if scope["method"] == "GET":
            pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            labels = [v for k, v in pairs if k == "namespace"]
            namespace = tuple(p for p in labels[0].split(".") if p) if len(labels) == 1 else tuple(labels)
            value = {"namespace": namespace, "key": dict(pairs).get("key")}
            await self.authorizer.authorize(user, "store", action, value)
            rest = [(k, v) for k, v in pairs if k != "namespace"]
            scope["query_string"] = urlencode([*rest, ("namespace", ".".join(value["namespace"]))]).encode()
            await self.app(scope, request.replay(None), send)
            return
        body = await request.json()
        if not isinstance(body, dict):
            await self.app(scope, request.replay(body), send)
            return
        field = {"search": "namespace_prefix", "list_namespaces": "prefix"}.get(action, "namespace")
        value = {**body, "namespace": tuple(body.get(field) or ())}
        await self.authorizer.authorize(user, "store", action, value)
        body[field] = list(value["namespace"])
        await self.app(scope, request.replay(body), send)


def _value(body: Any) -> dict[str, Any]:
    """What a handler sees: a copy of the body (it may edit it), metadata as a fresh dict."""
    value = dict(body) if isinstance(body, dict) else {}
    value["metadata"] = dict(value.get("metadata") or {})
    return value


class _Credentials:
    """`scope["auth"]`: who is asking (routes read `user.identity`, e.g. a cron's `user_id`)."""

    def __init__(self, user: AuthUser) -> None:
        self.user = user
        self.scopes = user.permissions


class _RequestParts:
    """The parts of a request auth needs, read once; the body can be replayed, edited, downstream."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.body: bytes | None = None

    def raw_headers(self) -> dict[bytes, bytes]:
        return {k.lower(): v for k, v in self.scope["headers"]}

    def header(self, name: str) -> str | None:
        value = self.raw_headers().get(name.encode())
        return value.decode("latin-1") if value is not None else None

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))

    async def read(self) -> bytes:
        if self.body is None:
            chunks = []
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            self.body = b"".join(chunks)
        return self.body

    async def json(self) -> Any:
        raw = await self.read()
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            return _Unparsed(raw)

    def replay(self, body: Any) -> Receive:
        """A `receive` that yields the (possibly edited) body once, then the client's own messages."""
        if isinstance(body, _Unparsed):
            raw = body.raw
        elif body is None:
            raw = self.body or b""
        else:
            raw = json.dumps(body).encode()
        headers = [(k, v) for k, v in self.scope["headers"] if k.lower() != b"content-length"]
        self.scope["headers"] = [*headers, (b"content-length", str(len(raw)).encode())]
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await self.receive()

        return receive


class _Unparsed:
    """A body that is not JSON: passed on untouched, so the route answers its usual 400."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
