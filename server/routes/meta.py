"""The API describing itself: `GET /openapi.json`, a human docs page `GET /docs`, and clear 501s for
the reference server's routes switchboard does not serve (A2A, MCP).

The OpenAPI document is built from the app's own route table, so it cannot drift from what is
served: each route's summary is its handler's docstring (or name), its tag the route module, and
its request body the msgspec type the handler decodes (found among the names the handler, or a
helper it calls, uses), rendered to JSON Schema by msgspec.
"""

from __future__ import annotations

import html
import inspect
import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from ..http import JSONResponse
from ..routing import AUTHENTICATED, PUBLIC, Route

PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def _body_types(endpoint: Any) -> list[type]:
    """msgspec Structs named in the handler (or in a module-level helper it calls)."""
    found: list[type] = []
    seen: set[Any] = set()

    def scan(fn: Any, depth: int) -> None:
        code = getattr(fn, "__code__", None)
        if code is None or fn in seen:
            return
        seen.add(fn)
        for name in code.co_names:
            value = fn.__globals__.get(name)
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value not in found:
                if value.__module__.startswith(("server.", "actors.")) and "decode_body" in code.co_names:
                    found.append(value)
            elif depth > 0 and inspect.isfunction(value) and value.__module__.startswith("server."):
                scan(value, depth - 1)

    scan(endpoint, 1)
    return found


def _summary(endpoint: Any) -> str:
    doc = inspect.getdoc(endpoint)
    if doc:
        return doc.splitlines()[0]
    module = endpoint.__module__.rsplit(".", 1)[-1]
    return f"{module.capitalize()}: {endpoint.__name__.replace('_', ' ').strip()}"


def build_openapi(app: Any, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    bodies: list[type] = []
    for route in app.routes:
        if not isinstance(route, Route):
            continue
        module = route.endpoint.__module__.rsplit(".", 1)[-1]
        tag = "System" if module in ("system", "metrics", "meta") else module.capitalize()
        if route.endpoint.__name__ == "not_supported":
            tag = "Not supported"
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in PATH_PARAM.findall(route.path)
        ]
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            operation: dict[str, Any] = {
                "tags": [tag],
                "summary": _summary(route.endpoint),
                "operationId": f"{module}_{route.endpoint.__name__}_{method.lower()}",
                "parameters": params,
                "responses": {
                    "200": {"description": "Success"},
                    "404": {"$ref": "#/components/responses/Error"},
                    "422": {"$ref": "#/components/responses/Error"},
                },
            }
            types = _body_types(route.endpoint)
            if types:
                operation["requestBody"] = {
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{types[0].__name__}"}}}
                }
                bodies.append(types[0])
            paths.setdefault(route.path, {})[method.lower()] = operation
    _, components = msgspec.json.schema_components(list(dict.fromkeys(bodies)), ref_template="#/components/schemas/{name}")
    components["ErrorResponse"] = {
        "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "switchboard",
            "version": version,
            "description": "A LangGraph Platform API server built as an actor system. See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "Error": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                }
            },
        },
    }


def _document(request: Request) -> dict[str, Any]:
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        from .system import _version

        state.openapi = build_openapi(request.app, _version())
    return state.openapi


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


routes = [
    Route("/openapi.json", openapi, methods=["GET"], auth=PUBLIC),
    Route("/docs", docs, methods=["GET"], auth=PUBLIC),
    *(
        Route(path, _not_supported(path, what), methods=methods, auth=AUTHENTICATED)
        for path, (what, methods) in NOT_SUPPORTED.items()
    ),
]
