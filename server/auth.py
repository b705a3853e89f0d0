"""Auth at the HTTP edge, in one place: an ASGI middleware that authenticates every request and
authorizes what it touches before any route runs, so no route handler needs to know about auth.

Each route declares its resource, action and how auth applies (`Access`, in the route table: see
`server/routing.py`; a route without a declaration stops the app from starting). For a request,
the middleware finds the route the router will pick, runs the user's `@auth.on` handler for that
resource and action (`actors/config/auth.py`), then applies the answer by `how`:

- `create`: the (possibly edited) `metadata` of the value, plus the filter's `key == value` parts,
  is written into the request body: a record carries its owner from birth. `create_on_thread`
  also checks that the thread in the path is the user's.
- `object`: the record named in the path must pass the filter, else 404 (as if it did not exist).
- `search` / `count`: the whole filter (`$eq` and `$contains`) is combined with the body's own
  `metadata` filter (`actors/config/filters.py`; a conflicting equality gives an empty answer), so pages
  and counts are exact.
- `ids`: every thread the body names must pass the filter.
- `batch`: each item of the list is authorized as the single run create it stands for.
- `store`: the handler may rewrite `namespace` (e.g. prefix the user's id); it is written back.

In cluster mode a request a peer signed with the cluster secret on a user's behalf (a cron's run on
a thread this process owns: actors/cluster/trust.py) skips the handlers once verified; a client's
request with those headers is refused.

A route that starts runs (`threads.create_run`, `crons.create`) also needs the assistant: unless it
is a graph's own assistant (`created_by: system`, as in the reference server), the user's
`assistants.read` handler must let them read it, else 404. `PUBLIC` routes (`/ok`, `/info`,
`/docs`, `/openapi.json`, `/metrics`) skip auth; a path no route serves is authenticated and left
to the router's 404/405.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.config.auth import AuthUser, Authorizer, equalities, matches
from actors.config.users import REQUEST_USER
from actors.cluster import trust
from actors.errors import Conflict, Forbidden, InvalidInput, NotFound, SwitchboardError, Unauthorized
from actors.config.filters import combine
from actors.models import graph_assistant_id

from .errors import error_response
from .http import JSONResponse, nesting_error
from .routing import Access, find_route


class AuthMiddleware:
    def __init__(self, app: ASGIApp, authorizer: Authorizer, system: Any, router: Router | None = None) -> None:
        """`router`: the API's, whose routes declare their access (read per request: the `http`
        section of langgraph.json replaces the list). Without one (a custom app's routes, with
        `enable_custom_route_auth`), requests are authenticated and touch no declared resource."""
        self.app = app
        self.authorizer = authorizer
        self.system = system
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `/noauth`: langgraph_sdk's in-process client (server/loopback.py), trusted as on the reference.
        if scope["type"] != "http" or scope.get("root_path") == "/noauth":
            await self.app(scope, receive, send)
            return
        found = find_route(self.router.routes if self.router is not None else (), scope)
        access = getattr(found[0], "access", None) if found else None
        if access is not None and access.how == "public":
            await self.app(scope, receive, send)
            return
        token = REQUEST_USER.set(None)
        try:
            await self._guarded(scope, receive, send, found, access)
        except SwitchboardError as exc:
            await error_response(exc)(scope, receive, send)
        finally:
            REQUEST_USER.reset(token)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, found: Any, access: Access | None) -> None:
        request = _RequestParts(scope, receive)
        if trust.claims(request.raw_headers()):
            await self._from_peer(scope, request, found, send)
            return
        user = await self.authorizer.authenticate(
            headers=request.raw_headers(), authorization=request.header("authorization"),
            path=scope["path"], method=scope["method"], query_params=request.query(), request=Request(scope),
        )
        scope["auth"] = _Credentials(user)
        scope["user"] = user
        REQUEST_USER.set(user)  # the operations stamp it on the runs this request creates
        if found is None:  # no route serves this: the router answers 404 / 405 / a slash redirect
            await self.app(scope, receive, send)
            return
        if access is None:  # deny by default (create_app refuses such a table; this is the backstop)
            raise Forbidden(f"{scope['method']} {scope['path']}: the route declares no auth access")
        if access.how == "authenticated":
            await self.app(scope, receive, send)
            return
        if access.how == "store":
            await self._store(scope, request, user, access.action or "", send)
            return
        if access.also is not None:  # e.g. a copy creates a thread: the user must be allowed to (403 if not)
            await self.authorizer.authorize(user, *access.also, {"metadata": {}})
        body = await request.json()
        if body is None and access.how in ("create", "create_on_thread", "search", "count"):
            body = {}  # an empty body is an empty request: it gets the owner, and the filter, too
        object_id = found[1].get(access.path_id) if access.how in ("object", "create_on_thread") else None
        if access.how == "batch":
            for i, item in enumerate(body if isinstance(body, list) else []):
                if isinstance(item, dict):
                    await self._create(user, access, item, item.get("thread_id"), where=f"[{i}].")
        elif access.how in ("create", "create_on_thread"):
            if isinstance(body, dict):
                await self._create(user, access, body, object_id)
            else:
                await self.authorizer.authorize(user, access.resource, access.action, _value(body))
        else:
            value = _value(body)
            if object_id is not None:
                value[access.path_id] = object_id
            filters = await self.authorizer.authorize(user, access.resource, access.action, value)
            if access.how == "object":
                await self._check(access.resource, object_id, filters)
                if access.creates_runs and isinstance(body, dict) and isinstance(body.get("params"), dict):
                    # protocol v2's run.start names its assistant in the command's params
                    await self._check_assistant(user, body["params"].get("assistant_id"))
                if access.action == "update" and isinstance(body, dict) and "metadata" in body:
                    self._stamp(body, filters, value)  # a patch cannot hand the record to someone else
            elif access.how == "ids" and filters:
                await self._check_ids(scope, body, access.ids_field or "", filters)
            elif access.how in ("search", "count") and filters and isinstance(body, dict):
                combined = combine(body.get("metadata"), filters)
                if combined is None:  # asks for someone else's records only
                    await JSONResponse(0 if access.how == "count" else [])(scope, receive, send)
                    return
                body["metadata"] = combined  # the whole filter: pages and counts are exact
        await self.app(scope, request.replay(body), send)

    async def _from_peer(self, scope: Scope, request: _RequestParts, found: Any, send: Send) -> None:
        """Cluster mode: a peer's request on a user's behalf (a cron it fired on a thread this process
        owns, actors/cluster/trust.py). Once its signature is verified (else 401/403) it is served
        as a local firing is: no auth handler runs and no request user is stamped on the run (the
        cron's own `user_id` and metadata are in the body)."""
        cluster = getattr(self.system.ctx, "cluster", None)
        if cluster is None:
            raise Unauthorized("a cluster peer's request, and this process is in no cluster")
        route = getattr(found[0], "path", "") if found else ""
        identity = cluster.trust.verify(scope["method"], scope["path"], route, request.raw_headers(), await request.read())
        user = AuthUser(identity)
        scope["auth"] = _Credentials(user)
        scope["user"] = user
        await self.app(scope, request.replay(None), send)

    async def _create(self, user: AuthUser, access: Access, body: dict[str, Any], thread_id: Any, *, where: str = "") -> None:
        """One create (a record, or a run, maybe on a thread): authorize, check the thread and the
        assistant it uses, and stamp the owner into the body."""
        value = _value(body, where)
        on_thread = isinstance(thread_id, str)
        if on_thread:
            value["thread_id"] = thread_id
        resource = access.resource or ""
        filters = await self.authorizer.authorize(user, resource, access.action or "", value)
        if on_thread:  # the thread must be the user's too
            if resource == "threads":
                await self._check("threads", thread_id, filters)
            else:
                await self._check_object("threads", thread_id, user)
        if access.creates_runs:
            await self._check_assistant(user, body.get("assistant_id"))
        if access.action == "create":
            await self._refuse_taking_over(resource, body, filters)
        self._stamp(body, filters, value)

    async def _check_assistant(self, user: AuthUser, assistant_id: Any) -> None:
        """Running an assistant reads it (its config and metadata reach the run): the user's
        `assistants.read` handler decides, except for a graph's own assistant, open to all."""
        if not isinstance(assistant_id, str):
            return  # the route answers 422
        record = await self._lookup("assistants", assistant_id)
        if record is None or (record.metadata or {}).get("created_by") == "system":
            return
        filters = await self.authorizer.authorize(user, "assistants", "read", {"assistant_id": record.assistant_id})
        if filters and not matches(filters, record.metadata):
            raise NotFound(f"Assistant {assistant_id} not found.")

    async def _check_ids(self, scope: Scope, body: Any, field: str, filters: dict[str, Any]) -> None:
        ids = body.get(field) if isinstance(body, dict) else None
        if ids is None:
            raise Forbidden(f"with auth on, {scope['path']} needs {field!r} (only your own threads can be touched)")
        for thread_id in ids if isinstance(ids, list) else [ids]:
            await self._check("threads", str(thread_id), filters)

    def _stamp(self, body: dict[str, Any], filters: dict[str, Any] | None, value: dict[str, Any]) -> None:
        metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
        stamped = {**(metadata or {}), **equalities(filters)}
        if stamped or "metadata" in body:
            body["metadata"] = stamped

    async def _refuse_taking_over(self, resource: str, body: dict[str, Any], filters: dict[str, Any] | None) -> None:
        """Creating with the id of someone else's record (`if_exists: do_nothing` would return it)."""
        field = f"{resource[:-1]}_id"
        if not filters or resource not in ("threads", "assistants") or not isinstance(body.get(field), str):
            return
        record = await self._lookup(resource, body[field])
        if record is not None and not matches(filters, getattr(record, "metadata", None)):
            raise Conflict(f"{resource[:-1].capitalize()} {body[field]} already exists.")

    async def _check_object(self, resource: str, object_id: str | None, user: AuthUser) -> None:
        filters = await self.authorizer.authorize(user, resource, "read", {"thread_id": object_id})
        await self._check(resource, object_id, filters)

    async def _check(self, resource: str, object_id: str | None, filters: dict[str, Any] | None) -> None:
        if not filters or object_id is None:
            return
        record = await self._lookup(resource, object_id)
        if record is not None and not matches(filters, getattr(record, "metadata", None)):
            raise NotFound(f"{resource[:-1].capitalize()} {object_id} not found.")

    async def _lookup(self, resource: str, object_id: str) -> Any:
        """The record as the route will find it; read off the event loop (`actors/door.py`)."""
        return await self.system.door.call(self._read_record, resource, object_id)

    def _read_record(self, resource: str, object_id: str) -> Any:
        """Routes normalise UUIDs (`ABC...`, `{...}`, no dashes): so does this look-up."""
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
        if body.get(field) is not None and not isinstance(body[field], list):
            raise InvalidInput(f"{field}: expected an array of strings, got {type(body[field]).__name__}")
        value = {**body, "namespace": tuple(body.get(field) or ())}
        await self.authorizer.authorize(user, "store", action, value)
        body[field] = list(value["namespace"])
        await self.app(scope, request.replay(body), send)


def _value(body: Any, where: str = "") -> dict[str, Any]:
    """What a handler sees: a copy of the body (it may edit it), metadata as a fresh dict."""
    value = dict(body) if isinstance(body, dict) else {}
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInput(f"{where}metadata: expected an object, got {type(metadata).__name__}")
    value["metadata"] = dict(metadata or {})
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
        except RecursionError:
            raise nesting_error() from None

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
