"""Poison input: run options that cannot be used are refused at the door (422 naming the field);
numbers past a documented bound are a 4xx, not an OverflowError; JSON nested too deeply is a 4xx,
not a RecursionError; and a stored record the server cannot use (written straight into storage,
then the server restarted) ends its run `error`, leaves the thread usable and never stops start-up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from actors import ActorSystem, Settings
from actors.models import Cron, Run, graph_assistant_id, new_id, now
from actors.recovery import RESTART_ERROR
from server.app import create_app
from server.http import MAX_DEPTH
from server.routes.crons import RUN_FIELDS
from tests.backends import DURABLE_BACKENDS, backend_settings
from tests.conftest import LiveServer

BAD_OPTIONS = [
    ({"config": "x"}, "config"),
    ({"config": {"configurable": "oops"}}, "config.configurable"),
    ({"config": {"configurable": [1, 2]}}, "config.configurable"),
    ({"config": {"tags": "a"}}, "config.tags"),
    ({"config": {"metadata": 3}}, "config.metadata"),
    ({"config": {"recursion_limit": 0}}, "config.recursion_limit"),
    ({"config": {"recursion_limit": "10"}}, "config.recursion_limit"),
    ({"context": "x"}, "context"),
    ({"checkpoint": {"checkpoint_id": 5}}, "checkpoint"),
    ({"checkpoint": {"checkpoint_ns": ["a"]}}, "checkpoint"),
    ({"checkpoint_id": 5}, "checkpoint_id"),
    ({"after_seconds": 1e20}, "after_seconds"),
    ({"after_seconds": -1}, "after_seconds"),
    ({"metadata": "x"}, "metadata"),
    ({"interrupt_before": "node"}, "interrupt_before"),
    ({"stream_mode": 5}, "stream_mode"),
    ({"command": {"goto": 5}, "input": None}, "command.goto"),
    ({"command": {"update": "x"}, "input": None}, "command.update"),
    ({"config": {"callbacks": "x"}}, "config.callbacks"),
    ({"config": {"configurable": {"__pregel_checkpointer": "x"}}}, "config.configurable.__pregel_checkpointer"),
    ({"config": {"configurable": {"checkpoint_map": "x"}}}, "config.configurable.checkpoint_map"),
]


@pytest.fixture
def http(live_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=10) as session:
        yield session


@pytest.mark.parametrize("options,field", BAD_OPTIONS, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_OPTIONS)])
def test_a_bad_run_option_is_a_422_naming_it_on_every_run_route(http, options, field):
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    body = {"assistant_id": "one", "input": {"tag": "x"}, **options}
    routes = [
        (f"/threads/{thread_id}/runs", body),
        (f"/threads/{thread_id}/runs/wait", body),
        (f"/threads/{thread_id}/runs/stream", body),
        ("/runs", body),
        ("/runs/batch", [body]),
    ]
    if set(options) <= {*RUN_FIELDS, "metadata"}:  # what a cron keeps for the runs it creates
        routes.append((f"/threads/{thread_id}/runs/crons", {**body, "schedule": "0 0 1 1 *"}))
    for path, payload in routes:
        response = http.post(path, json=payload)
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert field in response.json()["detail"], (path, response.text)
    assert http.get(f"/threads/{thread_id}/runs").json() == [], "a refused request leaves no run behind"
    ran = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "one", "input": {"tag": "ok"}})
    assert ran.status_code == 200 and ran.json()["messages"] == ["ok:0"]


def test_the_embedded_facade_refuses_the_same_options(system):
    thread_id = system.threads.create()["thread_id"]
    from actors.errors import InvalidInput

    with pytest.raises(InvalidInput, match="config.configurable"):
        system.runs.create(thread_id, "one", config={"configurable": "oops"})
    with pytest.raises(InvalidInput, match="after_seconds"):
        system.runs.create(thread_id, "one", after_seconds=float("inf"))


BOUNDS = [
    ("POST", "/threads/search", {"limit": 0}, "limit"),
    ("POST", "/threads/search", {"limit": 1001}, "limit"),
    ("POST", "/threads/search", {"offset": 2**70}, "offset"),
    ("POST", "/assistants/search", {"offset": -1}, "offset"),
    ("POST", "/assistants/search", {"limit": 10**12}, "limit"),
    ("POST", "/runs/crons/search", {"limit": 0}, "limit"),
    ("POST", "/runs/crons/search", {"limit": 10**12}, "limit"),
    ("POST", "/runs/crons/search", {"offset": 2**70}, "offset"),
    ("POST", "/store/items/search", {"offset": 2**70}, "offset"),
    ("POST", "/store/items/search", {"limit": 1001}, "limit"),
    ("POST", "/store/namespaces", {"offset": 2**70}, "offset"),
    ("POST", "/store/namespaces", {"max_depth": 0}, "max_depth"),
    ("PUT", "/store/items", {"namespace": ["n"], "key": "k", "value": {}, "ttl": 1e300}, "ttl"),
    ("GET", "/threads/{t}/runs?limit=1001", None, "limit"),
    ("GET", "/threads/{t}/runs?offset=1180591620717411303424", None, "offset"),
    ("POST", "/threads/{t}/history", {"limit": 5000}, "limit"),
    ("POST", "/assistants/{a}/latest", {"version": 2**70}, "version"),
    ("POST", "/store/items/search", {"filter": {"a": {"$regex": "x"}}}, "filter.a"),
]


@pytest.mark.parametrize("method,path,body,field", BOUNDS, ids=[f"{m} {p} {f}" for m, p, _, f in BOUNDS])
def test_values_past_a_documented_bound_are_a_422_naming_the_field(http, method, path, body, field):
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    assistant_id = http.post("/assistants", json={"graph_id": "one"}).json()["assistant_id"]
    path = path.replace("{t}", thread_id).replace("{a}", assistant_id)
    response = http.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]


def test_json_nested_too_deeply_is_a_4xx_not_a_recursion_error(http):
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    for path in ("/threads", "/threads/search", "/store/items/search", f"/threads/{thread_id}/runs"):
        response = http.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert response.status_code == 422 and "nested too deeply" in response.json()["detail"], (path, response.text)
    nested: object = 1
    for _ in range(MAX_DEPTH - 1):  # the body's object, `input`, then lists: one level too many
        nested = [nested]
    response = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "one", "input": {"tag": "x", "deep": nested}})
    assert response.status_code == 422 and f"nested deeper than {MAX_DEPTH} levels (at $.input.deep[0]" in response.json()["detail"]
    fine = http.post(f"/threads/{thread_id}/runs/wait", json={"assistant_id": "one", "input": {"tag": "x", "deep": nested[0]}})
    assert fine.status_code == 200 and "__error__" not in fine.json(), fine.text  # at the bound: stored and run
    assert http.get("/ok").status_code == 200


@pytest.mark.parametrize("path,make,where", [
    ("/threads", lambda n: {"metadata": {"n": n}}, "$.metadata.n"),
    ("/threads/search", lambda n: {"metadata": {"n": -n}}, "$.metadata.n"),
    ("/store/items", lambda n: {"namespace": ["n"], "key": "k", "value": {"list": [1, n]}}, "$.value.list[1]"),
    ("/runs/wait", lambda n: {"assistant_id": "one", "input": {"tag": "x", "steps": n}}, "$.input.steps"),
])
def test_integers_past_64_bits_are_a_422_naming_where(http, path, make, where):
    method = "PUT" if path == "/store/items" else "POST"
    response = http.request(method, path, json=make(2**70))
    assert response.status_code == 422 and response.json()["detail"].startswith(f"{where}: integer"), response.text
    assert http.request(method, path, json=make(2**63 - 1)).status_code in (200, 204)  # the largest that fits


# --- records the server cannot use, written straight into storage, then a restart ------------------


@pytest.fixture(params=DURABLE_BACKENDS)
def settings(request, tmp_path: Path) -> Iterator[Settings]:
    with backend_settings(request.param, tmp_path) as fields:
        yield Settings(idle_timeout=5.0, **fields)


def _poison(system: ActorSystem, thread_id: str, status: str, **kwargs) -> str:
    run = Run(run_id=new_id(), thread_id=thread_id, assistant_id=graph_assistant_id("one"), status=status, kwargs=kwargs)  # type: ignore[arg-type]
    system.storage.put_run(run)
    return run.run_id


async def test_stored_runs_the_server_cannot_use_end_in_error_and_the_thread_stays_usable(settings):
    from tests.graphs.steps import GRAPHS

    with ActorSystem(GRAPHS, settings=settings) as system:
        thread_id = system.threads.create()["thread_id"]
        system.runs.wait(thread_id, "one", input={"tag": "a"})
        running = _poison(system, thread_id, "running", config={"configurable": "oops"})
        bad_config = _poison(system, thread_id, "pending", config={"configurable": "oops"}, input={"tag": "p"})
        bad_delay = _poison(system, thread_id, "pending", after_seconds="soon", input={"tag": "q"})
        bad_modes = _poison(system, thread_id, "pending", stream_mode=7)
        other = system.threads.create()["thread_id"]
        system.storage.update_thread(other, metadata={"graph_id": ["not", "a", "string"]}, status="busy")
        system.storage.update_thread(thread_id, status="busy")

    with ActorSystem(GRAPHS, settings=settings) as system:  # start-up recovery runs here; it must not abort
        assert system.recovery.errored == [running]
        with LiveServer(create_app(system, own_system=False)) as server:
            client = get_client(url=server.url)
            assert await client.runs.join(thread_id, running) == {"__error__": RESTART_ERROR}
            for run_id, field in [(bad_config, "config.configurable"), (bad_delay, "after_seconds"), (bad_modes, "stream_mode")]:
                output = await client.runs.join(thread_id, run_id)
                assert field in str(output["__error__"]), output
                assert (await client.runs.get(thread_id, run_id))["status"] == "error"
            # the thread is usable: a new run, a patch, and finally a delete
            done = await client.runs.wait(thread_id, "one", input={"tag": "b"})
            assert done["messages"] == ["a:0", "b:0"]
            patched = await client.threads.update(thread_id, metadata={"after": "poison"})
            assert patched["metadata"]["after"] == "poison"
            assert (await client.threads.get(other))["status"] == "idle"
            await client.threads.delete(thread_id)
            async with httpx.AsyncClient(base_url=server.url) as http:
                assert (await http.get(f"/threads/{thread_id}")).status_code == 404


def test_a_command_goto_in_the_apis_send_form_runs_that_node(http):
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    body = {"assistant_id": "custom", "command": {"goto": [{"node": "talk", "input": {"messages": ["sent"]}}]}}
    response = http.post(f"/threads/{thread_id}/runs/wait", json=body)
    assert response.status_code == 200 and "talked" in response.json()["messages"], response.text


def test_a_cron_that_never_fires_is_a_422(http):
    response = http.post("/runs/crons", json={"assistant_id": "one", "schedule": "0 0 31 2 *"})
    assert response.status_code == 422 and "never fires" in response.json()["detail"]


async def test_a_stored_cron_the_scheduler_cannot_use_is_disabled_and_the_others_still_fire(system, client):
    thread = await client.threads.create()
    good = system.crons.create("one", "0 0 1 1 *", thread_id=thread["thread_id"], payload={"input": {"tag": "cron"}})
    due = good.next_run_date
    # written straight into storage, older than the good one, so the scheduler meets it first
    bad = Cron(cron_id=new_id(), assistant_id=good.assistant_id, thread_id=thread["thread_id"], schedule="0 0 31 2 *",
               next_run_date=due - timedelta(days=1), created_at=now() - timedelta(days=1))
    system.storage.put_cron(bad)
    [request] = system.crons.tick(at=due)
    run = await asyncio.wrap_future(request)
    assert (await client.runs.join(thread["thread_id"], run.run_id))["messages"] == ["cron:0"]
    stopped = system.storage.get_cron(bad.cron_id)
    assert stopped.enabled is False and stopped.next_run_date is None
    system.crons.delete(good.cron_id)
