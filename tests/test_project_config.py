"""langgraph.json keys served as the reference serves them (checked side by side with `langgraph dev`,
docs/config.md): `env`, graph entries with a description, `http.app`, `http.disable_*`,
`http.mount_prefix`, `http.configurable_headers`, `http.enable_custom_route_auth`, `ui`; graph
factories called per run; `get_client()` without a URL from a node and from a custom route; the
config validated at start-up. Real `switchboard serve` subprocesses, the real langgraph-sdk client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from actors import ActorSystem, Settings
from actors.config.graphs import GraphConfigError, load_graphs
from actors.config.loading import import_object
from tests.server_process import ServerProcess

PROJECT = Path(__file__).parent / "fixtures" / "project"
GRAPH = f"{PROJECT}/graphs.py:configured"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The fixture project on SQLite: a custom app, a .env file, configurable headers."""
    workdir = tmp_path_factory.mktemp("project")
    proc = ServerProcess(workdir, ["--data-dir", str(workdir / "data")], config=PROJECT / "langgraph.json")
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Under a mount prefix, with routes disabled, env given as an object, auth on custom routes."""
    workdir = tmp_path_factory.mktemp("prefixed")
    config = workdir / "langgraph.json"
    config.write_text(json.dumps({
        "graphs": {"configured": f"{PROJECT}/graphs.py:configured", "factory": f"{PROJECT}/graphs.py:make_graph",
                   "loopback": f"{PROJECT}/graphs.py:loopback_graph"},
        "env": {"PROJECT_GREETING": "hello", "LANGGRAPH_CONFIG": json.dumps({"configured": {"configurable": {"tone": "warm"}}})},
        "auth": {"path": f"{PROJECT}/auth.py:auth"},
        "http": {"app": f"{PROJECT}/app.py:app", "mount_prefix": "/api", "disable_store": True, "disable_meta": True,
                 "enable_custom_route_auth": True},
    }))
    proc = ServerProcess(workdir, ["--storage", "memory"], config=config)
    try:
        yield proc.start()
    finally:
        proc.stop()


def _client(server: ServerProcess):
    return get_sync_client(url=server.url)


# --- http.app -----------------------------------------------------------------------------------


def test_custom_routes_are_served_beside_the_api_and_their_middleware_wraps_both(server):
    hello = httpx.get(f"{server.url}/custom/hello")
    assert hello.json() == {"hello": "custom"}
    api = httpx.post(f"{server.url}/assistants/search", json={})
    assert api.status_code == 200 and {a["graph_id"] for a in api.json()} >= {"configured", "factory", "parent"}
    assert hello.headers["x-custom-middleware"] == api.headers["x-custom-middleware"] == "yes"


def test_the_custom_apps_lifespan_runs_and_its_routes_see_the_system(server):
    assert httpx.get(f"{server.url}/custom/lifespan").json() == {"lifespan": ["started"], "system": True}


def test_custom_routes_come_first_except_health_metrics_and_docs(server):
    assert httpx.get(f"{server.url}/info").json() == {"shadowed": True}
    assert httpx.get(f"{server.url}/threads/{'0' * 8}-0000-0000-0000-{'0' * 12}/shadowed").json() == {"shadowed": True}
    assert httpx.get(f"{server.url}/ok").json()["ok"] is True
    assert httpx.get(f"{server.url}/openapi.json").json()["openapi"].startswith("3.")


# --- env, graph entries -------------------------------------------------------------------------


def test_env_file_is_applied_before_graphs_load_and_descriptions_reach_the_assistant(server):
    client = _client(server)
    [assistant] = client.assistants.search(graph_id="configured")
    assert assistant["description"] == "shows what a node sees"
    seen = client.runs.wait(None, "configured", input={})["seen"]
    assert seen["env_file"] == "from-dotenv" and seen["env"] is None


def test_env_object_and_langgraph_config_reach_the_system_assistant(prefixed):
    client = get_sync_client(url=f"{prefixed.url}/api", headers={"Authorization": "Bearer team-token"})
    [assistant] = client.assistants.search(graph_id="configured")
    assert assistant["config"] == {"configurable": {"tone": "warm"}}
    assert assistant["context"] == {"tone": "warm"}
    seen = client.runs.wait(None, "configured", input={})["seen"]
    assert seen["env"] == "hello" and seen["configurable"]["tone"] == "warm"


# --- http.configurable_headers ------------------------------------------------------------------


def test_configurable_headers_follow_includes_and_excludes(server):
    headers = {"x-team-a": "1", "x-team-secret": "s", "x-other": "o", "user-agent": "ua", "authorization": "Bearer z", "x-api-key": "k"}
    run = _client(server).runs.wait(None, "configured", input={}, config={"configurable": {"mine": 1}}, headers=headers)
    seen = run["seen"]["configurable"]
    assert seen["x-team-a"] == "1" and seen["user-agent"] == "ua" and seen["mine"] == 1
    for hidden in ("x-team-secret", "x-other", "authorization", "x-api-key"):
        assert hidden not in seen


# --- graph factories ----------------------------------------------------------------------------


def test_a_factory_is_called_for_each_run_with_that_runs_config(server):
    client = _client(server)
    assert client.runs.wait(None, "factory", input={"text": "Hi"}, config={"configurable": {"node": "shout"}}) == {"text": "HI"}
    assert client.runs.wait(None, "factory", input={"text": "Hi"}, config={"configurable": {"node": "whisper"}}) == {"text": "hi"}
    assert client.runs.wait(None, "factory", input={"text": "Hi"}) == {"text": "HI"}


def test_a_runtime_factory_gets_the_runs_context(server):
    client = _client(server)
    seen = client.runs.wait(None, "runtime_factory", input={}, context={"k": "v"})["seen"]
    assert seen == {"access": "threads.create_run", "context": {"k": "v"}}


def test_introspection_calls_the_factory_with_the_assistants_config(server):
    client = _client(server)
    whisperer = client.assistants.create("factory", config={"configurable": {"node": "whisper"}})
    nodes = [n["id"] for n in client.assistants.get_graph(whisperer["assistant_id"])["nodes"]]
    assert nodes == ["__start__", "whisper", "__end__"]
    [default] = client.assistants.search(graph_id="factory", metadata={"created_by": "system"})
    assert "shout" in [n["id"] for n in client.assistants.get_graph(default["assistant_id"])["nodes"]]


def test_factories_are_called_for_each_use_with_its_access_context():
    config = PROJECT / "langgraph.json"
    calls = import_object("./graphs.py:FACTORY_CALLS", PROJECT, "test")
    calls.clear()
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        thread = system.threads.create()
        system.runs.wait(thread["thread_id"], "runtime_factory", input={})
        system.threads.get_state(thread["thread_id"])
        system.threads.update_state(thread["thread_id"], {"text": "edited"})
        system.assistants.get_schemas(system.assistants.search(graph_id="runtime_factory")[0]["assistant_id"])
    assert calls == ["threads.create_run", "threads.read", "threads.update", "assistants.read"]


def test_a_context_manager_factory_stays_entered_for_the_run_and_a_broken_one_fails_the_run_only():
    graphs = load_graphs(PROJECT / "langgraph.json")
    make = import_object("./graphs.py:make_graph_in_context", PROJECT, "test")
    broken = import_object("./graphs.py:broken_factory", PROJECT, "test")
    calls = import_object("./graphs.py:FACTORY_CALLS", PROJECT, "test")
    calls.clear()
    with ActorSystem({**graphs, "held": make, "broken": broken}) as system:
        assert system.runs.wait(None, "held", input={"text": "a"}) == {"text": "A"}
        assert calls == ["enter", "exit"]
        thread = system.threads.create()
        failed = system.runs.wait(thread["thread_id"], "broken", input={})
        assert failed["__error__"] == {"error": "RuntimeError", "message": "the factory could not make its graph"}
        assert system.runs.wait(thread["thread_id"], "held", input={"text": "b"}) == {"text": "B"}


# --- get_client() without a URL -----------------------------------------------------------------


def test_get_client_without_url_reaches_us_from_a_node_and_from_a_custom_route(server):
    out = _client(server).runs.wait(None, "loopback", input={"text": "Lo"})
    assert out["seen"] == {"assistants": ["configured"], "result": {"text": "LO"}}
    count = len(httpx.post(f"{server.url}/assistants/search", json={}).json())
    assert httpx.get(f"{server.url}/custom/loopback").json() == {"assistants": count}


def test_get_client_without_url_skips_auth_as_on_the_reference(prefixed):
    client = get_sync_client(url=f"{prefixed.url}/api", headers={"Authorization": "Bearer team-token"})
    out = client.runs.wait(None, "loopback", input={"text": "Lo"})
    assert out["seen"] == {"assistants": ["configured"], "result": {"text": "LO"}}


# --- mount_prefix, disable_*, enable_custom_route_auth, ui -----------------------------------------


def test_mount_prefix_serves_everything_under_it_and_health_at_the_root(prefixed):
    token = {"Authorization": "Bearer team-token"}
    assert httpx.post(f"{prefixed.url}/api/assistants/search", json={}, headers=token).status_code == 200
    assert httpx.post(f"{prefixed.url}/assistants/search", json={}, headers=token).status_code == 404
    assert httpx.get(f"{prefixed.url}/ok").json()["ok"] is True
    assert httpx.get(f"{prefixed.url}/").json()["ok"] is True
    assert "switchboard_threads" in httpx.get(f"{prefixed.url}/metrics").text


def test_disabled_routes_are_not_served(prefixed):
    token = {"Authorization": "Bearer team-token"}
    assert httpx.post(f"{prefixed.url}/api/store/namespaces", json={}, headers=token).status_code == 404
    assert httpx.get(f"{prefixed.url}/api/docs", headers=token).status_code == 404
    # with disable_meta the custom app's /info and /ok are no longer shadowed by ours
    assert httpx.get(f"{prefixed.url}/api/ok", headers=token).json() == {"shadowed": True}


def test_custom_route_auth_applies_the_auth_handler_to_custom_routes(prefixed):
    assert httpx.get(f"{prefixed.url}/api/custom/hello").status_code == 401
    ok = httpx.get(f"{prefixed.url}/api/custom/hello", headers={"Authorization": "Bearer team-token"})
    assert ok.json() == {"hello": "custom"}


def test_custom_routes_skip_auth_unless_asked(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({
        "graphs": {"configured": GRAPH}, "auth": {"path": f"{PROJECT}/auth.py:auth"}, "http": {"app": f"{PROJECT}/app.py:app"},
    }))
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        http = TestClient(create_app(system, own_system=False))
        assert http.get("/custom/hello").json() == {"hello": "custom"}
        assert http.post("/assistants/search", json={}).status_code == 401


def test_ui_without_components_is_404_as_the_reference(server):
    answer = httpx.post(f"{server.url}/ui/configured", json={"name": "x"})
    assert answer.status_code == 404 and answer.json() == {"detail": "UI not found for graph 'configured'"}


def test_ui_with_components_is_501_naming_the_feature(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"configured": f"{PROJECT}/graphs.py:configured"}, "ui": {"configured": "./ui.tsx"}}))
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        answer = TestClient(create_app(system, own_system=False)).post("/ui/configured", json={})
    assert answer.status_code == 501 and "generative UI" in answer.json()["detail"]


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "config,message",
    [
        ({"graphs": {"g": GRAPH}, "htpp": {}}, "unknown key 'htpp' \\(did you mean 'http'\\?\\)"),
        ({"graphs": {"g": GRAPH}, "http": {"disable_runz": True}}, "http: .*disable_runz"),
        ({"graphs": {"g": GRAPH}, "http": {"disable_runs": "yes"}}, "http.disable_runs: Expected `bool`"),
        ({"graphs": {"g": GRAPH}, "http": {"mount_prefix": "api/"}}, "http.mount_prefix must start with '/'"),
        ({"graphs": {"g": GRAPH}, "http": {"app": "app.py"}}, "http.app must look like"),
        ({"graphs": {"g": GRAPH}, "http": {"configurable_headers": {"includes": "x-*"}}}, "http.configurable_headers.includes"),
        ({"graphs": {"g": GRAPH}, "env": 3}, '"env" must be a path'),
        ({"graphs": {"g": GRAPH}, "env": "missing.env"}, "env: file not found"),
        ({"graphs": {"g": {"description": "no path"}}}, "graphs.g: Object missing required field `path`"),
        ({"graphs": {"g": {"path": GRAPH, "descripton": "typo"}}}, "graphs.g: .*descripton"),
        ({"graphs": {"g": GRAPH}, "ui": ["x"]}, '"ui" must map graph ids'),
        ({"graphs": {"g": GRAPH}, "http": {"middleware_order": "auth_first"}}, '"auth_first" is not supported'),
    ],
)
def test_a_bad_key_or_value_is_a_start_up_error_naming_it(tmp_path, config, message):
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(config))
    with pytest.raises(GraphConfigError, match=message):
        load_graphs(path)


def test_serve_refuses_a_bad_config_with_the_message(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {"g": GRAPH}, "http": {"disable_runs": "yes"}}))
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--config", str(path), "--storage", "memory"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 2
    assert "http.disable_runs: Expected `bool`" in done.stderr


def test_each_disable_flag_takes_its_routes_away_and_only_those(tmp_path):
    from starlette.testclient import TestClient

    from server.app import create_app

    flags = ["assistants", "threads", "runs", "store", "ui", "mcp", "a2a", "meta"]
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"configured": GRAPH}, "http": {f"disable_{f}": True for f in flags}}))
    probes = {
        "assistants": ("POST", "/assistants/search"),
        "threads": ("POST", "/threads/search"),
        "runs": ("POST", "/runs/wait"),
        "thread runs": ("GET", f"/threads/{'0' * 8}-0000-0000-0000-{'0' * 12}/runs"),
        "crons": ("POST", "/runs/crons/search"),
        "store": ("POST", "/store/namespaces"),
        "ui": ("POST", "/ui/configured"),
        "mcp": ("POST", "/mcp"),
        "a2a": ("POST", f"/a2a/{'0' * 8}-0000-0000-0000-{'0' * 12}"),
        "meta": ("GET", "/info"),
    }
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        http = TestClient(create_app(system, own_system=False))
        for what, (method, path) in probes.items():
            assert http.request(method, path, json={}).json() == {"detail": "Not Found"}, what
        assert http.get("/ok").json()["ok"] is True
    config.write_text(json.dumps({"graphs": {"configured": GRAPH}}))
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        http = TestClient(create_app(system, own_system=False))
        for what, (method, path) in probes.items():
            assert http.request(method, path, json={}).json() != {"detail": "Not Found"}, what


def test_disable_webhooks_turns_delivery_off(tmp_path):
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"configured": GRAPH}, "http": {"disable_webhooks": True}}))
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        assert system.settings.send_webhooks is False
    config.write_text(json.dumps({"graphs": {"configured": GRAPH}}))
    with ActorSystem(settings=Settings(config_path=str(config))) as system:
        assert system.settings.send_webhooks is True


def test_configurable_headers_reach_a_factory_for_runs_state_and_introspection():
    from starlette.testclient import TestClient

    from server.app import create_app

    calls = import_object("./graphs.py:FACTORY_CALLS", PROJECT, "test")
    with ActorSystem(settings=Settings(config_path=str(PROJECT / "langgraph.json"))) as system:
        http = TestClient(create_app(system, own_system=False), headers={"x-team-probe": "p"})
        calls.clear()
        tid = http.post("/threads", json={}).json()["thread_id"]
        assert http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "header_factory", "input": {"text": "a"}}).json() == {"text": "A"}
        http.get(f"/threads/{tid}/state")
        http.post(f"/threads/{tid}/history", json={})
        http.post(f"/threads/{tid}/state", json={"values": {"text": "b"}})
        [assistant] = http.post("/assistants/search", json={"graph_id": "header_factory"}).json()
        http.get(f"/assistants/{assistant['assistant_id']}/graph")
    assert calls == ["probe=p"] * 5


def test_get_client_without_url_streams_live(server):
    out = _client(server).runs.wait(None, "streaming_loopback", input={"text": "live"})
    assert [e for e in out["seen"] if e != "end"] == ["metadata", "values", "custom", "values"]  # no error: live
