"""`POST /ui/{assistant_id}`: generative UI components (langgraph.json `ui`). The reference bundles
each graph's components with a JavaScript toolchain and serves them here; switchboard does not
(docs/api.md): a graph with components configured gets `501` naming the feature, a graph without
gets the reference's `404`."""

from __future__ import annotations

from starlette.requests import Request

from actors.config.project import read_config

from ..http import JSONResponse, door
from ..openapi import responds
from ..routing import Access, Route


@responds({"$ref": "#/components/schemas/ErrorResponse"}, status=501, also=(404,))
async def ui_components(request: Request) -> JSONResponse:
    system = request.app.state.system
    assistant_id = request.path_params["assistant_id"]
    if assistant_id in system.graph_ids:
        graph_id = assistant_id
    else:
        graph_id = (await door(request).call(system.ops.get_assistant, assistant_id)).graph_id
    config_path = system.settings.config_path
    configured = (read_config(config_path).get("ui") or {}) if config_path else {}
    if graph_id not in configured:
        return JSONResponse({"detail": f"UI not found for graph '{graph_id}'"}, status_code=404)
    return JSONResponse(
        {
            "detail": f"POST /ui/{assistant_id}: generative UI (langgraph.json `ui`) is not supported by switchboard: "
            "its components are not bundled or served. See docs/api.md, 'Not supported'."
        },
        status_code=501,
    )


routes = [Route("/ui/{assistant_id}", ui_components, methods=["POST"], auth=Access("assistants", "read", "object"))]
