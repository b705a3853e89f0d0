"""The OpenAPI document declares what each route answers (server/openapi.py), and the routing
answers `OPTIONS` and unserved methods with every method of the path. Real uvicorn, plain httpx;
tests/test_api_schemathesis.py checks the server against the document with generated requests."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route


@pytest.fixture
async def http(live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


@pytest.fixture
async def document(http):
    return (await http.get("/openapi.json")).json()


def test_every_served_handler_declares_its_responses(live_server):
    app = live_server.server.config.app
    undeclared = [
        (sorted(route.methods), route.path) for route in app.routes
        if isinstance(route, Route) and route.methods is not None
        and route.endpoint.__name__ != "not_supported" and not hasattr(route.endpoint, "responds")
    ]
    assert undeclared == [], "declare these with @responds(...) (server/openapi.py)"


async def test_responses_success_schemas_and_parameters_are_declared(document):
    paths = document["paths"]
    assert not [p for p in paths if ":" in p], "no Starlette converters in path templates"
    assert "/assistants/{assistant_id}/subgraphs/{namespace}" in paths
    run = paths["/threads/{thread_id}/runs/{run_id}"]
    assert run["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Run"}
    assert set(run["get"]["responses"]) == {"200", "404", "422", "503"}
    assert set(run["delete"]["responses"]) == {"204", "404", "409", "422", "503"}
    assert [p["schema"] for p in run["get"]["parameters"]] == [{"type": "string", "format": "uuid"}] * 2
    create = paths["/threads"]["post"]["responses"]
    assert {"200", "400", "409", "413", "422", "503"} <= set(create)
    assert create["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    listing = {p["name"]: p for p in paths["/threads/{thread_id}/runs"]["get"]["parameters"]}
    assert set(listing) == {"thread_id", "limit", "offset", "status"} and listing["limit"]["in"] == "query"
    assert paths["/threads/{thread_id}/history"]["get"]["parameters"][1]["name"] == "limit"
    assert [p["name"] for p in paths["/threads/{thread_id}/history"]["post"]["parameters"]] == ["thread_id"]
    assert paths["/threads/search"]["post"]["requestBody"]["required"] is False  # an empty body searches all
    assert paths["/threads/{thread_id}/runs/stream"]["post"]["responses"]["200"]["content"].keys() == {"text/event-stream"}
    assert set(paths["/mcp"]["get"]["responses"]) == {"501"}
    assert "503" not in paths["/ok"]["get"]["responses"]["200"] and "503" in paths["/ok"]["get"]["responses"]
    assistant_id = paths["/assistants/{assistant_id}"]["get"]["parameters"][0]["schema"]
    assert assistant_id["anyOf"][0] == {"type": "string", "format": "uuid"} and "steps" in assistant_id["anyOf"][1]["enum"]


async def test_options_and_405_name_every_method_of_the_path(http):
    options = await http.options("/threads/00000000-0000-0000-0000-000000000000")
    assert options.status_code == 204
    assert options.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    put = await http.put("/threads/00000000-0000-0000-0000-000000000000")
    assert put.status_code == 405 and put.headers["Allow"] == options.headers["Allow"]
    assert "PUT" in put.json()["detail"]
    # A literal path is not taken for a parameter of another route: 405, not "'prune' is not a UUID".
    prune = await http.patch("/threads/prune", json={})
    assert prune.status_code == 405 and prune.headers["Allow"] == "OPTIONS, POST"
    crons = await http.get("/threads/00000000-0000-0000-0000-000000000000/runs/crons")
    assert crons.status_code == 405 and crons.headers["Allow"] == "OPTIONS, POST"
    assert (await http.options("/store/items")).headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PUT"
