"""Health and server information."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request
from starlette.routing import Route

from ..http import JSONResponse


def _version() -> str:
    try:
        return version("switchboard")
    except PackageNotFoundError:
        return "0.0.0+local"


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def info(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "version": _version(),
            "server": "switchboard",
            "graphs": request.app.state.system.graph_ids,
            "flags": {"assistants": True, "crons": False, "langsmith": False},
        }
    )


routes = [Route("/ok", ok, methods=["GET"]), Route("/info", info, methods=["GET"])]
