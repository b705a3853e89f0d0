"""CORS, over a real uvicorn: the reference's open default (any origin, preflights answered with 200,
the pagination and Content-Location headers readable), `http.cors` from langgraph.json in its place,
preflights answered before auth, and bad `http.cors` sections refused at start-up naming the key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actors import ActorSystem, Settings
from actors.graphs import GraphConfigError
from server.app import create_app
from server.cors import cors_options
from tests.conftest import LiveServer

GRAPHS = {"one": "tests.graphs.steps:one_step"}
ORIGIN = "http://localhost:3000"
AUTH_MODULE = '''
from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None):
    if authorization != "Bearer good":
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing bearer token")
    return "someone"
'''


def _serve(folder: Path, config: dict) -> Iterator[LiveServer]:
    (folder / "langgraph.json").write_text(json.dumps({"graphs": GRAPHS, **config}))
    settings = Settings(config_path=str(folder / "langgraph.json"), idle_timeout=5.0)
    with ActorSystem(settings=settings) as system, LiveServer(create_app(system, own_system=False)) as server:
        yield server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory) -> Iterator[LiveServer]:
    yield from _serve(tmp_path_factory.mktemp("cors-default"), {})


@pytest.fixture(scope="module")
def narrow_server(tmp_path_factory) -> Iterator[LiveServer]:
    cors = {
        "allow_origins": ["https://app.example"],
        "allow_methods": ["GET", "POST"],
        "allow_headers": ["content-type"],
        "allow_credentials": True,
        "expose_headers": ["x-pagination-next"],
        "max_age": 42,
    }
    yield from _serve(tmp_path_factory.mktemp("cors-narrow"), {"http": {"cors": cors}})


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("cors-auth")
    (folder / "auth.py").write_text(AUTH_MODULE)
    yield from _serve(folder, {"auth": {"path": "./auth.py:auth"}})


def _preflight(url: str, path: str, origin: str = ORIGIN, method: str = "POST", headers: str | None = "content-type,x-api-key"):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    return httpx.options(url + path, headers=request_headers)


def test_any_origin_may_call_by_default_as_on_the_reference(open_server):
    preflight = _preflight(open_server.url, "/threads")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, QUERY"
    assert preflight.headers["access-control-allow-headers"] == "content-type,x-api-key"  # mirrored
    assert preflight.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in preflight.headers
    created = httpx.post(open_server.url + "/threads", json={}, headers={"Origin": ORIGIN})
    assert created.status_code == 200
    assert created.headers["access-control-allow-origin"] == "*"
    assert created.headers["access-control-expose-headers"] == "x-pagination-total, x-pagination-next, content-location"


def test_streams_and_errors_carry_the_headers_too(open_server):
    thread_id = httpx.post(open_server.url + "/threads", json={}).json()["thread_id"]
    body = {"assistant_id": "one", "input": {"tag": "c"}, "stream_mode": "updates"}
    with httpx.stream("POST", f"{open_server.url}/threads/{thread_id}/runs/stream", json=body, headers={"Origin": ORIGIN}) as r:
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
        assert "content-location" in r.headers["access-control-expose-headers"]
        assert b"event: updates" in b"".join(r.iter_raw())
    missing = httpx.get(f"{open_server.url}/threads/00000000-0000-0000-0000-000000000000", headers={"Origin": ORIGIN})
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == "*"


def test_a_private_network_preflight_is_allowed(open_server):
    # Chromium asks this before a public page may call a server on a private address.
    r = httpx.options(
        open_server.url + "/threads",
        headers={"Origin": "https://public.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Private-Network": "true"},
    )
    assert r.status_code == 200 and r.headers["access-control-allow-private-network"] == "true"


def test_http_cors_in_langgraph_json_replaces_the_default(narrow_server):
    allowed = _preflight(narrow_server.url, "/threads", origin="https://app.example", headers="content-type")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"  # credentials: named, not *
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["access-control-allow-methods"] == "GET, POST"
    assert allowed.headers["access-control-max-age"] == "42"
    assert _preflight(narrow_server.url, "/threads", origin="https://evil.example", headers="content-type").status_code == 400
    assert _preflight(narrow_server.url, "/threads/x", origin="https://app.example", method="DELETE", headers=None).status_code == 400
    assert _preflight(narrow_server.url, "/threads", origin="https://app.example", headers="x-api-key").status_code == 400
    simple = httpx.post(narrow_server.url + "/threads", json={}, headers={"Origin": "https://app.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert simple.headers["access-control-expose-headers"] == "x-pagination-next"
    other = httpx.post(narrow_server.url + "/threads", json={}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


CUSTOM_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"hello": "custom"})

app = Starlette(routes=[Route("/hello", hello)])
"""


@pytest.fixture(scope="module")
def prefixed_server(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("cors-prefixed")
    (folder / "custom.py").write_text(CUSTOM_APP)
    yield from _serve(folder, {"http": {"app": "./custom.py:app", "mount_prefix": "/api"}})


def test_custom_routes_and_a_mount_prefix_are_covered_too(prefixed_server):
    preflight = _preflight(prefixed_server.url, "/api/threads")
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    created = httpx.post(prefixed_server.url + "/api/threads", json={}, headers={"Origin": ORIGIN})
    assert created.status_code == 200 and created.headers["access-control-allow-origin"] == "*"
    custom = httpx.get(prefixed_server.url + "/api/hello", headers={"Origin": ORIGIN})
    assert custom.json() == {"hello": "custom"} and custom.headers["access-control-allow-origin"] == "*"


def test_preflights_pass_before_auth_and_a_401_is_readable_cross_origin(auth_server):
    preflight = _preflight(auth_server.url, "/threads/search", headers="authorization,content-type")
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    denied = httpx.post(auth_server.url + "/threads/search", json={}, headers={"Origin": ORIGIN})
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "*"
    allowed = httpx.post(
        auth_server.url + "/threads/search", json={}, headers={"Origin": ORIGIN, "Authorization": "Bearer good"}
    )
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "*"


def test_cors_allow_origins_from_the_environment(tmp_path):
    env = {"CORS_ALLOW_ORIGINS": "https://a.example, https://b.example"}
    options = cors_options(None, env)
    assert options["allow_origins"] == ["https://a.example", "https://b.example"]
    assert options["allow_credentials"] is True  # named origins, as on the reference
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": GRAPHS, "http": {"cors": {"max_age": 5}}}))
    assert cors_options(tmp_path / "langgraph.json", env) == {
        "max_age": 5, "allow_origins": ["https://a.example", "https://b.example"], "allow_private_network": True,
    }


@pytest.mark.parametrize(
    ("cors", "message"),
    [
        ({"allow_origin": ["*"]}, '"http.cors.allow_origin" is not a CORS setting'),
        ({"allow_origins": "*"}, '"http.cors.allow_origins" must be a list of strings'),
        ({"allow_credentials": "yes"}, '"http.cors.allow_credentials" must be true or false'),
        ({"max_age": -1}, '"http.cors.max_age" must be a whole number of seconds'),
        ({"allow_origin_regex": "("}, '"http.cors.allow_origin_regex" must be a regular expression'),
        ([], "http.cors: Expected `object | null`, got `array`"),  # the config file's own check
    ],
)
def test_a_bad_http_cors_section_is_refused_naming_the_key(tmp_path, cors, message):
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": GRAPHS, "http": {"cors": cors}}))
    with pytest.raises(GraphConfigError) as err:
        cors_options(tmp_path / "langgraph.json")
    assert message in str(err.value)


def test_serve_refuses_a_bad_http_cors_section_at_start_up(tmp_path, capsys):
    from server.cli import main

    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": GRAPHS, "http": {"cors": {"allow_origins": "*"}}}))
    assert main(["serve", "--config", str(tmp_path / "langgraph.json"), "--storage", "memory", "--port", "0"]) == 2
    assert '"http.cors.allow_origins" must be a list of strings' in capsys.readouterr().err
