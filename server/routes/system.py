"""Health and server information."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request

from ..http import JSONResponse
from ..routing import PUBLIC, Route


def _version(package: str = "switchboard") -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "0.0.0+local"


async def ok(request: Request) -> JSONResponse:
    """Health check."""
    return JSONResponse({"ok": True})


async def info(request: Request) -> JSONResponse:
    """Server version, the LangGraph version, and which features are on."""
    state = request.app.state
    return JSONResponse(
        {
            "version": _version(),
            "langgraph_py_version": _version("langgraph"),
            "server": "switchboard",
            "graphs": state.system.graph_ids,
            "flags": {
                "assistants": True,
                "crons": True,
                "store": True,
                "auth": getattr(state, "auth", None) is not None,
                "langsmith": False,
                "a2a": False,
                "mcp": False,
            },
            "metadata": {},
        }
    )


routes = [Route("/ok", ok, methods=["GET"], auth=PUBLIC), Route("/info", info, methods=["GET"], auth=PUBLIC)]
