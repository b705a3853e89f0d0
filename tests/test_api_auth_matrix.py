"""The auth matrix: two users and an owner-filter auth handler; user B probes every one of user A's
resources through every route of the app's route table (walked, not listed by hand: a new route
without a probe fails here), and must get 403/404, an empty page, or their own namespace. Then A's
records are checked unchanged, and A's own requests through the same probes succeed (so a probe
that reaches nothing cannot pass as a denial)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import Auth, get_client
from langgraph_sdk.errors import PermissionDeniedError

from actors import ActorSystem, Settings
from server.app import create_app
from server.routing import Access
from tests.backends import backend_settings
from tests.conftest import STORAGE, LiveServer

AUTH_MODULE = '''
from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None):
    if not authorization or not authorization.startswith("Bearer "):
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing bearer token")
    return authorization.split(" ", 1)[1]


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict):
    filters = {"owner": ctx.user.identity}
    value.setdefault("metadata", {}).update(filters)
    return filters


@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: dict):
    value["namespace"] = (ctx.user.identity, *value["namespace"])
'''

DENIED = (403, 404)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("matrix")
    (folder / "auth.py").write_text(AUTH_MODULE)
    graphs = {"one": "tests.graphs.steps:one_step", "steps": "tests.graphs.steps:async_graph"}
    (folder / "langgraph.json").write_text(json.dumps({"graphs": graphs, "auth": {"path": "./auth.py:auth"}}))
    with backend_settings(STORAGE, folder / "data") as storage:
        settings = Settings(config_path=str(folder / "langgraph.json"), idle_timeout=5.0, **storage)
        with ActorSystem(settings=settings) as system:
            with LiveServer(create_app(system, own_system=False)) as live:
                yield live


def http_for(server: LiveServer, user: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {user}"}, timeout=30)


class AlicesThings:
    """One of each of A's resources, made through the SDK as A."""

    async def make(self, server: LiveServer) -> AlicesThings:
        alice = get_client(url=server.url, headers={"Authorization": "Bearer alice"})
        self.assistant = await alice.assistants.create(
            "one", config={"configurable": {"api_key": "alice-secret"}}, metadata={"team": "a"}
        )
        self.thread = await alice.threads.create(metadata={"topic": "a"})
        tid = self.thread["thread_id"]
        self.run = await alice.runs.create(tid, self.assistant["assistant_id"], input={"tag": "a"})
        await alice.runs.join(tid, self.run["run_id"])
        self.checkpoint_id = (await alice.threads.get_state(tid))["checkpoint"]["checkpoint_id"]
        self.busy = await alice.threads.create()  # a thread with a run in progress, to be left alone
        self.running = await alice.runs.create(
            self.busy["thread_id"], "steps", input={"tag": "r", "slow_at": 0, "slow_delay": 120}
        )
        self.cron = await alice.crons.create_for_thread(tid, "one", schedule="0 0 1 1 *")
        self.stateless_cron = await alice.crons.create("one", schedule="0 0 1 1 *")
        await alice.store.put_item(["notes"], key="k", value={"who": "alice"})
        self.client = alice
        return self

    def fill(self, template: str) -> str:
        ids = {
            "{thread_id}": self.thread["thread_id"],
            "{run_id}": self.run["run_id"],
            "{assistant_id}": self.assistant["assistant_id"],
            "{cron_id}": self.cron["cron_id"],
            "{checkpoint_id}": self.checkpoint_id,
            "{namespace:path}": "x",
        }
        for placeholder, value in ids.items():
            template = template.replace(placeholder, value)
        return template


def probes(a: AlicesThings) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """For each (method, route path): B's requests at A's resources. `expect` is `denied` (403/404),
    a status, or a check of the JSON answer."""
    tid, aid = a.thread["thread_id"], a.assistant["assistant_id"]
    busy = a.busy["thread_id"]
    run = {"assistant_id": "one", "input": {"tag": "b"}}
    mine = {"assistant_id": aid, "input": {"tag": "b"}}  # A's assistant, run on B's own thread or stateless
    empty = {"expect": lambda body: all(record["metadata"]["owner"] == "bob" for record in body)}  # B's, if any
    zero = {"expect": lambda body: body == 0}
    on_object = [{}]  # the route's path, filled with A's ids, as it is
    return {
        ("POST", "/threads"): [{"json": {"thread_id": tid, "if_exists": "do_nothing"}, "expect": 409}],
        ("POST", "/threads/search"): [empty, {"json": {"ids": [tid]}, **empty}, {"json": {"metadata": {"owner": "alice"}}, **empty}],
        ("POST", "/threads/count"): [{"json": {"metadata": {"topic": "a"}}, **zero}, {"json": {"metadata": {"owner": "alice"}}, **zero}],
        ("POST", "/threads/prune"): [{"json": {"thread_ids": [tid]}}],
        ("GET", "/threads/{thread_id}"): on_object,
        ("PATCH", "/threads/{thread_id}"): [{"json": {"metadata": {"owner": "bob"}}}],
        ("DELETE", "/threads/{thread_id}"): on_object,
        ("POST", "/threads/{thread_id}/copy"): on_object,
        ("GET", "/threads/{thread_id}/state"): on_object,
        ("POST", "/threads/{thread_id}/state"): [{"json": {"values": {"messages": ["b"]}}}],
        ("POST", "/threads/{thread_id}/state/checkpoint"): [{"json": {"checkpoint": {"checkpoint_id": a.checkpoint_id}}}],
        ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): on_object,
        ("GET", "/threads/{thread_id}/history"): on_object,
        ("POST", "/threads/{thread_id}/history"): [{"json": {}}],
        ("GET", "/threads/{thread_id}/stream"): on_object,
        ("POST", "/threads/{thread_id}/runs"): [{"json": run}, {"path": "/threads/{bob_thread}/runs", "json": mine}],
        ("GET", "/threads/{thread_id}/runs"): on_object,
        ("POST", "/threads/{thread_id}/runs/stream"): [{"json": run}, {"path": "/threads/{bob_thread}/runs/stream", "json": mine}],
        ("POST", "/threads/{thread_id}/runs/wait"): [{"json": run}, {"path": "/threads/{bob_thread}/runs/wait", "json": mine}],
        # A's run through B's own thread: the run must be on the thread named
        ("GET", "/threads/{thread_id}/runs/{run_id}"): [{}, {"path": "/threads/{bob_thread}/runs/{run_id}"}],
        ("DELETE", "/threads/{thread_id}/runs/{run_id}"): [{}, {"path": "/threads/{bob_thread}/runs/{run_id}"}],
        ("GET", "/threads/{thread_id}/runs/{run_id}/join"): [{}, {"path": "/threads/{bob_thread}/runs/{run_id}/join"}],
        ("GET", "/threads/{thread_id}/runs/{run_id}/stream"): [{}, {"path": "/threads/{bob_thread}/runs/{run_id}/stream"}],
        ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): [
            {}, {"path": f"/threads/{busy}/runs/{a.running['run_id']}/cancel?action=rollback"},
            {"path": "/threads/{bob_thread}/runs/" + a.running["run_id"] + "/cancel"},
        ],
        ("POST", "/threads/{thread_id}/commands"): [
            {"json": {"id": 1, "method": "run.start", "params": run}},
            {"path": "/threads/{bob_thread}/commands", "json": {"id": 1, "method": "run.start", "params": mine}},
        ],
        ("POST", "/threads/{thread_id}/stream/events"): [{"json": {"channels": ["values"]}}],
        ("POST", "/threads/{thread_id}/runs/crons"): [
            {"json": {"assistant_id": "one", "schedule": "0 0 1 1 *"}},
            {"path": "/threads/{bob_thread}/runs/crons", "json": {"assistant_id": aid, "schedule": "0 0 1 1 *"}},
        ],
        ("POST", "/runs"): [{"json": mine}],
        ("POST", "/runs/stream"): [{"json": mine}],
        ("POST", "/runs/wait"): [{"json": mine}],
        ("POST", "/runs/batch"): [
            {"json": [{**run, "thread_id": busy, "multitask_strategy": "interrupt", "webhook": "http://127.0.0.1:9/x"}]},
            {"json": [{**run, "thread_id": tid}]},
            {"json": [mine]},
            {"json": [{**mine, "thread_id": "{bob_thread}"}]},
        ],
        ("POST", "/runs/cancel"): [
            {"json": {"thread_id": busy, "run_ids": [a.running["run_id"]]}},
            {"json": {"run_ids": [a.running["run_id"]]}},
            {"json": {"status": "running"}},
        ],
        ("POST", "/runs/crons"): [{"json": {"assistant_id": aid, "schedule": "0 0 1 1 *"}}],
        ("POST", "/runs/crons/search"): [empty, {"json": {"thread_id": tid}, **empty}],
        ("POST", "/runs/crons/count"): [{"json": {"thread_id": tid}, **zero}, {"json": {"assistant_id": "one"}, **zero}],
        ("GET", "/runs/crons/{cron_id}"): on_object,
        ("PATCH", "/runs/crons/{cron_id}"): [{"json": {"enabled": False}}],
        ("DELETE", "/runs/crons/{cron_id}"): [{}, {"path": f"/runs/crons/{a.stateless_cron['cron_id']}"}],
        ("POST", "/assistants"): [{"json": {"graph_id": "one", "assistant_id": aid, "if_exists": "do_nothing"}, "expect": 409}],
        ("POST", "/assistants/search"): [{"json": {"metadata": {"team": "a"}}, **empty}, {"json": {"graph_id": "one"}, **empty}],
        ("POST", "/assistants/count"): [{"json": {"metadata": {"team": "a"}}, **zero}],
        ("GET", "/assistants/{assistant_id}"): on_object,
        ("PATCH", "/assistants/{assistant_id}"): [{"json": {"metadata": {"owner": "bob"}}}],
        ("DELETE", "/assistants/{assistant_id}"): [{"path": f"/assistants/{aid}?delete_threads=true"}],
        ("POST", "/assistants/{assistant_id}/versions"): [{"json": {}}],
        ("POST", "/assistants/{assistant_id}/latest"): [{"json": {"version": 1}}],
        ("GET", "/assistants/{assistant_id}/graph"): on_object,
        ("GET", "/assistants/{assistant_id}/schemas"): on_object,
        ("GET", "/assistants/{assistant_id}/subgraphs"): on_object,
        ("GET", "/assistants/{assistant_id}/subgraphs/{namespace:path}"): on_object,
        ("POST", "/ui/{assistant_id}"): [{"json": {"name": "x"}}],
        # the store: B's requests land in B's own namespace, whatever namespace they name
        ("PUT", "/store/items"): [{"json": {"namespace": ["alice", "notes"], "key": "k", "value": {"who": "bob"}}, "expect": 204}],
        ("GET", "/store/items"): [
            {"params": {"namespace": "notes", "key": "k"}, "expect": lambda body: body is None},
            {"params": {"namespace": "alice.notes", "key": "k"}, "expect": lambda body: body["value"] == {"who": "bob"}},
        ],
        ("DELETE", "/store/items"): [{"json": {"namespace": ["notes"], "key": "k"}, "expect": 204}],
        ("POST", "/store/items/search"): [
            {"json": {"namespace_prefix": ["notes"]}, "expect": lambda body: body["items"] == []},
            {"json": {}, "expect": lambda body: all(i["namespace"][0] == "bob" for i in body["items"])},
        ],
        ("POST", "/store/namespaces"): [
            {"json": {}, "expect": lambda body: all(ns[0] == "bob" for ns in body["namespaces"])},
            {"json": {"prefix": ["alice"]}, "expect": lambda body: all(ns[0] == "bob" for ns in body["namespaces"])},
        ],
    }


def guarded_routes(app) -> set[tuple[str, str]]:
    """Every (method, path) of the route table that touches a resource."""
    found = set()
    for route in app.routes:
        access: Access = route.access
        if access.how not in ("public", "authenticated"):
            # a WebSocket route has no methods (protocol v2's refuses to open with auth on)
            found |= {(method, route.path) for method in getattr(route, "methods", None) or () if method != "HEAD"}
    return found


async def test_user_b_reaches_none_of_user_as_resources_through_any_route(server):
    a = await AlicesThings().make(server)
    table = probes(a)
    assert set(table) == guarded_routes(server.server.config.app), "every guarded route needs a probe here"
    async with http_for(server, "bob") as bob:
        bob_thread = (await bob.post("/threads", json={})).json()["thread_id"]
        failures = []
        for (method, template), cases in table.items():
            for case in cases:
                path = a.fill(case.get("path", template)).replace("{bob_thread}", bob_thread)
                body = json.loads(json.dumps(case["json"]).replace("{bob_thread}", bob_thread)) if "json" in case else None
                response = await bob.request(method, path, json=body, params=case.get("params"))
                expect = case.get("expect", "denied")
                if callable(expect):
                    ok = response.status_code == 200 and expect(response.json())
                elif expect == "denied":
                    ok = response.status_code in DENIED
                else:
                    ok = response.status_code == expect
                if not ok:
                    failures.append(f"{method} {path} {body}: {response.status_code} {response.text[:200]}")
        assert failures == [], "\n".join(failures)

        # nothing of A's changed: the busy run still runs, A's records and store item are intact
        alice = a.client
        assert (await alice.runs.get(a.busy["thread_id"], a.running["run_id"]))["status"] == "running"
        thread = await alice.threads.get(a.thread["thread_id"])
        assert {k: thread["metadata"][k] for k in ("topic", "owner")} == {"topic": "a", "owner": "alice"}
        assert (await alice.runs.get(a.thread["thread_id"], a.run["run_id"]))["status"] == "success"
        assert (await alice.assistants.get(a.assistant["assistant_id"]))["metadata"] == {"team": "a", "owner": "alice"}
        assert (await alice.crons.search(thread_id=a.thread["thread_id"]))[0]["enabled"] is True
        assert len(await alice.crons.search()) == 2
        assert (await alice.store.get_item(["notes"], key="k"))["value"] == {"who": "alice"}
        # B's own thread never ran A's assistant, so it holds none of its config
        state = (await bob.get(f"/threads/{bob_thread}/state")).json()
        assert "alice-secret" not in json.dumps(state)

    # the same requests as A reach the records (reads succeed), so B's denials were real
    async with http_for(server, "alice") as http:
        for (method, template), cases in table.items():
            if method == "GET" and "{" in template and "namespace" not in template:
                response = await http.get(a.fill(template), params={"cancel_on_disconnect": "false"}) \
                    if not template.endswith("stream") else await _first_line(http, a.fill(template))
                assert response.status_code == 200, (template, response.status_code, response.text[:200])
        await a.client.runs.cancel(a.busy["thread_id"], a.running["run_id"], wait=True)


async def _first_line(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """A stream's status, without reading it to the end."""
    async with http.stream("GET", path) as response:
        return response


async def test_a_user_may_run_only_assistants_they_may_read(server):
    a = await AlicesThings().make(server)
    aid = a.assistant["assistant_id"]
    bob = get_client(url=server.url, headers={"Authorization": "Bearer bob"})
    thread = await bob.threads.create()
    # the graph's own assistant is everyone's (as in the reference server); A's is not
    run = await bob.runs.create(thread["thread_id"], "one", input={"tag": "b"})
    assert (await bob.runs.join(thread["thread_id"], run["run_id"]))["messages"] == ["b:0"]
    async with http_for(server, "bob") as http:
        for path, body in [
            (f"/threads/{thread['thread_id']}/runs", {"assistant_id": aid}),
            ("/runs/wait", {"assistant_id": aid}),
            ("/runs/batch", [{"assistant_id": "one"}, {"assistant_id": aid, "thread_id": thread["thread_id"]}]),
            ("/runs/crons", {"assistant_id": aid, "schedule": "0 0 1 1 *"}),
        ]:
            response = await http.post(path, json=body)
            assert response.status_code == 404 and aid in response.json()["detail"], (path, response.text)
    assert len(await bob.runs.list(thread["thread_id"])) == 1  # the refused batch created nothing
    state = await bob.threads.get_state(thread["thread_id"])
    assert "alice-secret" not in json.dumps(state)
    # A runs her own assistant as ever
    mine = await a.client.runs.wait(None, aid, input={"tag": "x"})
    assert mine["messages"] == ["x:0"]
    await a.client.runs.cancel(a.busy["thread_id"], a.running["run_id"], wait=True)


async def test_a_batch_is_authorized_item_by_item_like_the_single_create(server):
    alice = get_client(url=server.url, headers={"Authorization": "Bearer alice"})
    busy = await alice.threads.create()
    running = await alice.runs.create(busy["thread_id"], "steps", input={"slow_at": 0, "slow_delay": 120})
    async with http_for(server, "bob") as http:
        single = await http.post(f"/threads/{busy['thread_id']}/runs", json={"assistant_id": "one", "multitask_strategy": "interrupt"})
        batch = await http.post("/runs/batch", json=[{"assistant_id": "one", "thread_id": busy["thread_id"], "multitask_strategy": "interrupt"}])
        assert single.status_code == batch.status_code == 404
        own = (await http.post("/threads", json={})).json()["thread_id"]
        fine = await http.post("/runs/batch", json=[{"assistant_id": "one", "thread_id": own}, {"assistant_id": "one"}])
        assert fine.status_code == 200 and [r["metadata"]["owner"] for r in fine.json()] == ["bob", "bob"]
    assert (await alice.runs.get(busy["thread_id"], running["run_id"]))["status"] in ("pending", "running")
    assert len(await alice.runs.list(busy["thread_id"])) == 1
    await alice.runs.cancel(busy["thread_id"], running["run_id"], wait=True)


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count", "/assistants/search", "/assistants/count",
                                  "/runs/crons/search", "/runs/crons/count"])
async def test_a_search_with_a_non_object_metadata_is_a_422(server, path):
    async with http_for(server, "bob") as http:
        for metadata in ("owner", ["owner"], 3):
            response = await http.post(path, json={"metadata": metadata})
            assert response.status_code == 422 and "metadata" in response.json()["detail"], response.text
        assert (await http.post("/runs/batch", json=[{"assistant_id": "one", "metadata": "x"}])).status_code == 422
        deep = b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001  # auth parses bodies too
        response = await http.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert response.status_code == 422 and "nested too deeply" in response.json()["detail"]


def test_a_route_without_an_auth_declaration_stops_the_app_from_starting():
    from starlette.routing import Route as BareRoute

    from server.routing import UndeclaredRoute, check_declared
    from server.routes import threads

    async def endpoint(request):
        raise AssertionError("never served")

    with pytest.raises(UndeclaredRoute, match="/sneaky"):
        check_declared([*threads.routes, BareRoute("/sneaky", endpoint, methods=["GET"])])
    check_declared(threads.routes)


def readers_cannot_create() -> Auth:
    """Everyone reads every thread; only `writer` may create one."""
    auth = Auth()

    @auth.authenticate
    async def authenticate(headers: dict) -> str:
        return headers[b"x-user"].decode()

    @auth.on.threads.create
    async def writers_create(ctx, value):
        return ctx.user.identity == "writer"

    return auth


async def test_a_copy_needs_threads_create_as_well_as_reading_the_source(system):
    with LiveServer(create_app(system, own_system=False, auth=readers_cannot_create())) as live:
        writer = get_client(url=live.url, headers={"x-user": "writer"})
        reader = get_client(url=live.url, headers={"x-user": "reader"})
        thread = await writer.threads.create(metadata={"n": 1})
        assert (await reader.threads.get(thread["thread_id"]))["metadata"] == {"n": 1}
        with pytest.raises(PermissionDeniedError):
            await reader.threads.copy(thread["thread_id"])
        copied = await writer.threads.copy(thread["thread_id"])
        assert copied["thread_id"] != thread["thread_id"] and copied["metadata"] == {"n": 1}


def test_a_route_added_after_create_app_without_a_declaration_stops_start_up(system, caplog):
    import asyncio
    import socket

    import uvicorn
    from starlette.routing import Route as BareRoute

    async def endpoint(request):
        raise AssertionError("never served")

    app = create_app(system, own_system=False)
    app.router.routes.append(BareRoute("/late", endpoint, methods=["GET"]))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="error", log_config=None))  # logs reach caplog
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(SystemExit) as exited:  # uvicorn gives up: "Application startup failed"
            asyncio.run(server.serve(sockets=[sock]))
    assert exited.value.code == 3
    assert not server.started
    assert "/late" in caplog.text and "auth declaration" in caplog.text
