"""The API describing itself: `GET /openapi.json`, a human docs page `GET /docs`, and clear 501s for
the reference server's routes switchboard does not serve (A2A, MCP).

The OpenAPI document is built from the app's own route table (server/openapi.py), so it cannot
drift from what is served.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from ..http import JSONResponse
from ..openapi import build_openapi, responds
from ..routing import AUTHENTICATED, PUBLIC, Route


def _document(request: Request) -> dict[str, Any]:
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        from .system import _version

        state.openapi = build_openapi(request.app, _version(), state.system.graph_ids)
    return state.openapi


@responds(dict[str, Any])
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI document of every route this server serves."""
    return JSONResponse(_document(request))


def _schema_rows(schema: dict[str, Any], components: dict[str, Any]) -> str:
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or prop.get("enum") or " | ".join(
            str(p.get("type") or p.get("enum") or p.get("$ref", "").rsplit("/", 1)[-1] or p.get("const"))
            for p in prop.get("anyOf", [])
        ) or prop.get("$ref", "").rsplit("/", 1)[-1] or "any"
        note = "required" if name in required else (f"default {prop['default']!r}" if "default" in prop else "")
        rows.append(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(str(kind))}</td>"
            f"<td>{html.escape(note)}</td></tr>"
        )
    if not rows:
        return ""
    return "<table><tr><th>field</th><th>type</th><th></th></tr>" + "".join(rows) + "</table>"


def render_docs(document: dict[str, Any]) -> str:
    components = document["components"]["schemas"]
    by_tag: dict[str, list[str]] = {}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            block = (
                f'<div class="op"><span class="m {method}">{method.upper()}</span> <code>{html.escape(path)}</code>'
                f" &mdash; {html.escape(op['summary'])}{_schema_rows(body, components) if body else ''}</div>"
            )
            by_tag.setdefault(op["tags"][0], []).append(block)
    sections = "".join(
        f'<h2 id="{html.escape(tag)}">{html.escape(tag)}</h2>' + "".join(blocks) for tag, blocks in sorted(by_tag.items())
    )
    toc = " · ".join(f'<a href="#{html.escape(t)}">{html.escape(t)}</a>' for t in sorted(by_tag))
    info = document["info"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(info['title'])} API</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
.op {{ margin: .6rem 0; padding: .5rem .7rem; border: 1px solid #ddd; border-radius: 6px; }}
.m {{ display: inline-block; min-width: 4.2rem; font-weight: 600; font-family: monospace; }}
.get {{ color: #1f6feb; }} .post {{ color: #1a7f37; }} .put {{ color: #9a6700; }}
.patch {{ color: #8250df; }} .delete {{ color: #cf222e; }}
table {{ margin-top: .4rem; border-collapse: collapse; font-size: .9rem; }}
td, th {{ padding: .1rem .6rem; border-bottom: 1px solid #eee; text-align: left; }}
</style></head><body>
<h1>{html.escape(info['title'])} {html.escape(info['version'])}</h1>
<p>{html.escape(info['description'])} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<p>{toc}</p>
{sections}
</body></html>"""


@responds(str, media_type="text/html")
async def docs(request: Request) -> HTMLResponse:
    """A human-readable page listing every route with its request fields."""
    return HTMLResponse(render_docs(_document(request)))


NOT_SUPPORTED = {
    "/a2a/{assistant_id}": ("A2A (agent-to-agent JSON-RPC)", ["POST"]),
    "/mcp": ("MCP (Model Context Protocol)", ["GET", "POST", "DELETE"]),
    "/mcp/": ("MCP (Model Context Protocol)", ["GET", "POST", "DELETE"]),
    "/threads/{thread_id}/storage": ("thread storage", ["GET"]),
}


def _not_supported(path: str, what: str):
    async def endpoint(request: Request) -> Response:
        return JSONResponse(
            {
                "detail": f"{request.method} {path}: {what} is not supported by switchboard. "
                "The routes it serves are listed at /docs; see docs/api.md, 'Not supported'."
            },
            status_code=501,
        )

    endpoint.__name__ = "not_supported"
    endpoint.__doc__ = f"Not supported: {what} (answers 501)."
    return endpoint


class AllowedMethods:
    """The last route of a path: `OPTIONS` answers 204 and any method the path does not serve 405,
    both with an `Allow` naming every method of the path. (Starlette's own 405 names only the
    methods of the first route matching the path, and it has no OPTIONS.)"""

    def __init__(self, path: str, methods: set[str]) -> None:
        self.path = path
        self.allow = ", ".join(sorted(methods | {"OPTIONS"}))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            response: Response = Response(status_code=204, headers={"Allow": self.allow})
        else:
            detail = f"Method {method} is not allowed on {self.path}; allowed: {self.allow}"
            response = JSONResponse({"detail": detail}, status_code=405, headers={"Allow": self.allow})
        await response(scope, receive, send)


def with_allowed_methods(served: list[Any]) -> list[Any]:
    """The route table, each path's routes followed by its `AllowedMethods` route, and paths with
    literal segments before paths with parameters in the same place (`/threads/prune` before
    `/threads/{thread_id}`): a method a literal path does not serve is its 405, not a 422 from a
    parameter route that happens to match (`PATCH /threads/prune` is not "thread_id: 'prune' is not
    a valid UUID")."""
    groups: dict[str, list[Route]] = {}
    others: list[Any] = []
    for route in served:
        if isinstance(route, Route) and route.methods:
            groups.setdefault(route.path, []).append(route)
        else:
            others.append(route)
    table: list[Any] = []
    for path in sorted(groups, key=_literal_first):
        allowed = set().union(*(route.methods or () for route in groups[path]))
        # Public: it names methods, never touches a resource.
        table += [*groups[path], Route(path, AllowedMethods(path, allowed), methods=None, auth=PUBLIC)]
    return table + others


def _literal_first(path: str) -> list[tuple[int, str]]:
    return [(1, "") if segment.startswith("{") else (0, segment) for segment in path.strip("/").split("/")]


routes = [
    Route("/openapi.json", openapi, methods=["GET"], auth=PUBLIC),
    Route("/docs", docs, methods=["GET"], auth=PUBLIC),
    *(
        Route(path, _not_supported(path, what), methods=methods, auth=AUTHENTICATED)
        for path, (what, methods) in NOT_SUPPORTED.items()
    ),
]
