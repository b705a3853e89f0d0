"""Server routes about the server: /info, /openapi.json, /docs, /metrics, and the 501s for what is
not served. Real uvicorn; the SDK's own HTTP client where it has no method for the route."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route


@pytest.fixture
async def http(live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        yield client


async def test_info_reports_versions_and_flags(client):
    info = await client.http.get("/info")
    assert info["version"] and info["langgraph_py_version"]
    assert info["flags"]["assistants"] is True
    assert info["flags"]["crons"] is True
    assert info["flags"]["auth"] is False
    assert info["metadata"] == {}


async def test_openapi_lists_every_served_route_with_its_body_schema(client, live_server):
    document = await client.http.get("/openapi.json")
    app = live_server.server.config.app
    for route in app.routes:
        if isinstance(route, Route) and route.methods is not None:  # None: the OPTIONS/405 catch-all
            path = route.path.replace("{namespace:path}", "{namespace}")
            for method in route.methods - {"HEAD"}:
                assert method.lower() in document["paths"][path], (method, route.path)
    run_create = document["paths"]["/threads/{thread_id}/runs"]["post"]
    ref = run_create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "assistant_id" in schema["required"]
    assert run_create["parameters"][0]["name"] == "thread_id"
    put = document["paths"]["/store/items"]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert set(document["components"]["schemas"][put.rsplit("/", 1)[-1]]["required"]) == {"namespace", "key", "value"}
    cron = document["paths"]["/runs/crons"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "schedule" in document["components"]["schemas"][cron.rsplit("/", 1)[-1]]["properties"]


async def test_docs_page_is_html_listing_the_routes(http):
    response = await http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for expected in ("/store/items", "/runs/crons", "/threads/{thread_id}/runs", "/openapi.json", "schedule"):
        assert expected in page


async def test_metrics_in_prometheus_text(client, http):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "one", input={"tag": "m"})
    await client.runs.join(thread["thread_id"], run["run_id"])

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("switchboard_runs", (("status", "success"),))] >= 1
    assert sum(v for (name, _), v in samples.items() if name == "switchboard_threads") >= 1
    assert ("switchboard_thread_actors_live", ()) in samples
    created = samples[("switchboard_http_requests_total", (("method", "POST"), ("route", "/threads"), ("status", "200")))]
    assert created >= 1
    # Ids never become labels: the run's join is counted under its path template.
    assert any(
        name == "switchboard_http_requests_total" and dict(labels)["route"] == "/threads/{thread_id}/runs/{run_id}/join"
        for name, labels in samples
    )


async def test_metrics_as_json_and_bad_format(http):
    numbers = (await http.get("/metrics", params={"format": "json"})).json()
    assert {"threads", "runs", "thread_actors_live", "crons"} <= set(numbers)
    bad = await http.get("/metrics", params={"format": "xml"})
    assert bad.status_code == 422 and "format" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/a2a/00000000-0000-0000-0000-000000000000"),
        ("POST", "/mcp/"),
        ("GET", "/mcp/"),
        ("DELETE", "/mcp"),
        ("GET", "/threads/00000000-0000-0000-0000-000000000000/storage"),
    ],
)
async def test_unserved_reference_routes_answer_501(http, method, path):
    response = await http.request(method, path, json={})
    assert response.status_code == 501
    assert "not supported by switchboard" in response.json()["detail"]
