"""Auth through a langgraph.json `auth` section, driven by the real SDK (a client per user, with its
bearer token) against a real uvicorn: each user sees and touches only what is theirs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError
from langgraph_sdk.runtime import ServerRuntime

from actors import ActorSystem, Settings
from actors.config.auth import equalities, matches
from server.app import create_app
from tests.conftest import LiveServer
from tests.graphs.steps import single_node

AUTH_MODULE = '''
from langgraph_sdk import Auth

auth = Auth()
TOKENS = {"token-alice": ("alice", ["write"]), "token-bob": ("bob", ["write"]), "token-reader": ("reader", [])}


@auth.authenticate
async def authenticate(authorization: str | None):
    if not authorization or not authorization.startswith("Bearer "):
        raise Auth.exceptions.HTTPException(status_code=401, detail="missing bearer token")
    token = authorization.split(" ", 1)[1]
    if token not in TOKENS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown token")
    identity, permissions = TOKENS[token]
    return {"identity": identity, "permissions": permissions}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict):
    filters = {"owner": ctx.user.identity}
    value.setdefault("metadata", {}).update(filters)
    return filters


@auth.on.threads.delete
async def writers_delete_their_own(ctx: Auth.types.AuthContext, value: dict):
    if "write" not in ctx.permissions:
        return False
    return {"owner": ctx.user.identity}


@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: dict):
    value["namespace"] = (ctx.user.identity, *value["namespace"])
'''


WHO_MODULE = '''
from typing_extensions import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph_sdk.runtime import ServerRuntime


class Seen(TypedDict, total=False):
    seen: dict


def _one_node(name, node):
    builder = StateGraph(Seen)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder


def whoami(state, config):
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    return {"seen": {"item": user["identity"], "attribute": user.identity, "user_id": configurable["user_id"],
                     "auth_user_id": configurable["langgraph_auth_user_id"],
                     "permissions": configurable["langgraph_auth_permissions"]}}


graph = _one_node("whoami", whoami).compile()


def made_for(runtime: ServerRuntime):
    """A graph whose one node is named after the user the factory was called for."""
    who = runtime.user.identity if runtime.user is not None else "nobody"
    return _one_node(f"for_{who}", lambda state: {"seen": {"factory_user": who}})
'''


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[ActorSystem]:
    folder = tmp_path_factory.mktemp("authconf")
    (folder / "auth.py").write_text(AUTH_MODULE)
    (folder / "who.py").write_text(WHO_MODULE)
    (folder / "langgraph.json").write_text(
        json.dumps(
            {
                "graphs": {"one": "tests.graphs.steps:one_step", "steps": "tests.graphs.steps:async_graph",
                           "whoami": "./who.py:graph", "made_for": "./who.py:made_for"},
                "auth": {"path": "./auth.py:auth"},
            }
        )
    )
    with ActorSystem(settings=Settings(config_path=str(folder / "langgraph.json"), idle_timeout=5.0)) as actor_system:
        yield actor_system


@pytest.fixture(scope="module")
def live_server(system) -> Iterator[LiveServer]:
    with LiveServer(create_app(system, own_system=False)) as server:  # auth comes from langgraph.json
        yield server


def client_for(live_server, token: str):
    return get_client(url=live_server.url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def alice(live_server):
    return client_for(live_server, "token-alice")


@pytest.fixture
def bob(live_server):
    return client_for(live_server, "token-bob")


async def test_requests_without_valid_credentials_get_401(live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        missing = await http.post("/threads", json={})
        assert missing.status_code == 401 and missing.json() == {"detail": "missing bearer token"}
        wrong = await http.post("/threads/search", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json() == {"detail": "unknown token"}
        assert (await http.get("/ok")).status_code == 200
        info = await http.get("/info")
        assert info.status_code == 200 and info.json()["flags"]["auth"] is True


async def test_threads_are_private_to_their_owner(alice, bob):
    thread = await alice.threads.create(metadata={"topic": "x"})
    tid = thread["thread_id"]
    assert thread["metadata"] == {"topic": "x", "owner": "alice"}
    assert (await alice.threads.get(tid))["thread_id"] == tid

    with pytest.raises(NotFoundError):
        await bob.threads.get(tid)
    with pytest.raises(NotFoundError):
        await bob.threads.update(tid, metadata={"stolen": True})
    with pytest.raises(NotFoundError):
        await bob.threads.delete(tid)
    with pytest.raises(NotFoundError):
        await bob.runs.create(tid, "one", input={"tag": "b"})
    with pytest.raises(NotFoundError):
        await bob.runs.list(tid)

    assert tid in [t["thread_id"] for t in await alice.threads.search(limit=100)]
    assert tid not in [t["thread_id"] for t in await bob.threads.search(limit=100)]
    assert await bob.threads.search(metadata={"owner": "alice"}) == []


async def test_runs_carry_the_owner_and_work_for_them(alice, bob):
    thread = await alice.threads.create()
    run = await alice.runs.create(thread["thread_id"], "one", input={"tag": "a"})
    assert run["metadata"]["owner"] == "alice"
    assert (await alice.runs.join(thread["thread_id"], run["run_id"]))["messages"] == ["a:0"]
    with pytest.raises(NotFoundError):
        await bob.runs.get(thread["thread_id"], run["run_id"])


async def test_a_run_carries_who_asked_for_it_as_on_the_reference(alice, bob):
    thread = await alice.threads.create()
    run = await alice.runs.create(thread["thread_id"], "whoami", input={}, config={"configurable": {"langgraph_auth_user_id": "bob"}})
    stamped = run["kwargs"]["config"]["configurable"]  # a spoofed id is replaced by who asked
    assert stamped["langgraph_auth_user_id"] == "alice" and stamped["langgraph_auth_user"]["identity"] == "alice"
    seen = (await alice.runs.join(thread["thread_id"], run["run_id"]))["seen"]
    assert seen == {"item": "alice", "attribute": "alice", "user_id": "alice", "auth_user_id": "alice", "permissions": ["write"]}
    state = await alice.threads.get_state(thread["thread_id"])
    assert state["metadata"]["user_id"] == "alice" and state["metadata"]["langgraph_auth_user_id"] == "alice"
    given = await bob.runs.wait(None, "whoami", input={}, config={"configurable": {"user_id": "team-7"}})
    assert given["seen"]["user_id"] == "team-7" and given["seen"]["auth_user_id"] == "bob"


async def test_a_factorys_server_runtime_has_the_authenticated_user(alice, bob):
    thread = await alice.threads.create()
    # a delayed run starts later, outside the request: the user travels with the run
    run = await alice.runs.create(thread["thread_id"], "made_for", input={}, after_seconds=0.05)
    assert (await alice.runs.join(thread["thread_id"], run["run_id"]))["seen"] == {"factory_user": "alice"}
    assert (await bob.runs.wait(None, "made_for", input={}))["seen"] == {"factory_user": "bob"}


async def test_a_handler_returning_false_is_403(live_server, alice):
    reader = client_for(live_server, "token-reader")
    own = await reader.threads.create()
    with pytest.raises(PermissionDeniedError) as exc:
        await reader.threads.delete(own["thread_id"])
    assert exc.value.response.status_code == 403
    assert (await reader.threads.get(own["thread_id"]))["thread_id"] == own["thread_id"]


async def test_crons_are_private_and_record_their_user(alice, bob):
    thread = await alice.threads.create()
    cron = await alice.crons.create_for_thread(thread["thread_id"], "one", schedule="0 0 1 1 *")
    assert cron["user_id"] == "alice"
    assert cron["metadata"]["owner"] == "alice"
    assert [c["cron_id"] for c in await alice.crons.search(thread_id=thread["thread_id"])] == [cron["cron_id"]]
    assert await bob.crons.search(thread_id=thread["thread_id"]) == []
    assert await bob.crons.count(thread_id=thread["thread_id"]) == 0
    with pytest.raises(NotFoundError):
        await bob.crons.delete(cron["cron_id"])
    with pytest.raises(NotFoundError):
        await bob.crons.create_for_thread(thread["thread_id"], "one", schedule="0 0 1 1 *")
    await alice.crons.delete(cron["cron_id"])


async def test_a_crons_runs_are_for_the_user_who_made_it(system, alice):
    thread = await alice.threads.create()
    cron = await alice.crons.create_for_thread(thread["thread_id"], "one", schedule="0 0 1 1 *", input={"tag": "c"})
    [request] = system.crons.tick(at=datetime.fromisoformat(cron["next_run_date"]))
    run = await asyncio.wrap_future(request)
    await alice.runs.join(thread["thread_id"], run.run_id)
    assert (await alice.threads.get_state(thread["thread_id"]))["metadata"]["user_id"] == "alice"
    await alice.crons.delete(cron["cron_id"])


async def test_store_namespaces_are_scoped_per_user(alice, bob):
    await alice.store.put_item(["notes"], key="n1", value={"text": "alice's"})
    await bob.store.put_item(["notes"], key="n1", value={"text": "bob's"})
    assert (await alice.store.get_item(["notes"], key="n1"))["value"] == {"text": "alice's"}
    assert (await bob.store.get_item(["notes"], key="n1"))["value"] == {"text": "bob's"}
    found = await bob.store.search_items(["notes"])
    assert [i["value"] for i in found["items"]] == [{"text": "bob's"}]
    await bob.store.delete_item(["notes"], key="n1")
    assert await bob.store.get_item(["notes"], key="n1") is None
    assert (await alice.store.get_item(["notes"], key="n1"))["value"] == {"text": "alice's"}


async def test_assistants_without_the_owner_are_hidden(alice):
    assert await alice.assistants.search() == []
    with pytest.raises(NotFoundError):
        await alice.assistants.get("one")


def test_filter_semantics():
    meta = {"owner": "alice", "tags": ["a", "b"]}
    assert matches({"owner": "alice"}, meta)
    assert matches({"owner": {"$eq": "alice"}}, meta)
    assert not matches({"owner": "bob"}, meta)
    assert matches({"tags": {"$contains": "a"}}, meta)
    assert matches({"tags": {"$contains": ["a", "b"]}}, meta)
    assert not matches({"tags": {"$contains": "c"}}, meta)
    assert not matches({"owner": "alice"}, None)
    assert equalities({"owner": {"$eq": "a"}, "tags": {"$contains": "x"}, "team": "t"}) == {"owner": "a", "team": "t"}


def shared_threads_auth():
    """Embedded use (`create_app(system, auth=...)`): threads shared through a `members` list."""
    from langgraph_sdk import Auth

    auth = Auth()

    @auth.authenticate
    async def authenticate(headers: dict):
        user = headers.get(b"x-user")
        if user is None:
            raise Auth.exceptions.HTTPException(status_code=401)
        return user.decode()

    @auth.on.threads.create
    async def anyone_creates(ctx, value):
        return None

    @auth.on.threads
    async def members_only(ctx, value):
        return {"members": {"$contains": ctx.user.identity}}

    return auth


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LiveServer]:
    from tests.graphs.steps import GRAPHS

    with ActorSystem({**GRAPHS, "made_for": made_for}, settings=Settings(idle_timeout=5.0)) as actor_system:
        with LiveServer(create_app(actor_system, own_system=False, auth=shared_threads_auth())) as server:
            yield server


def made_for(runtime: ServerRuntime):
    """A graph factory: its one node is named after the user it was made for."""
    who = runtime.user.identity if runtime.user is not None else "nobody"
    return single_node(f"for_{who}", lambda state: {"messages": [who]})


async def test_introspection_calls_the_factory_for_the_requests_user(shared_server):
    ada = get_client(url=shared_server.url, headers={"x-user": "ada"})
    assert "for_ada" in {n["id"] for n in (await ada.assistants.get_graph("made_for"))["nodes"]}


async def test_contains_filters_select_what_a_user_may_see(shared_server):
    ada = get_client(url=shared_server.url, headers={"x-user": "ada"})
    bo = get_client(url=shared_server.url, headers={"x-user": "bo"})
    both = await ada.threads.create(metadata={"members": ["ada", "bo"]})
    ada_only = await ada.threads.create(metadata={"members": ["ada"]})

    assert (await bo.threads.get(both["thread_id"]))["thread_id"] == both["thread_id"]
    with pytest.raises(NotFoundError):
        await bo.threads.get(ada_only["thread_id"])
    seen_by_bo = {t["thread_id"] for t in await bo.threads.search(limit=100)}
    assert both["thread_id"] in seen_by_bo and ada_only["thread_id"] not in seen_by_bo
    seen_by_ada = {t["thread_id"] for t in await ada.threads.search(limit=100)}
    assert {both["thread_id"], ada_only["thread_id"]} <= seen_by_ada
    # the filter is applied before paging and counting: bo's first page of one is the thread he
    # may see (not the newer one he may not, filtered out afterwards), and his count agrees
    marker = {"suite": "contains-paging"}
    older = await ada.threads.create(metadata={**marker, "members": ["ada", "bo"]})
    await ada.threads.create(metadata={**marker, "members": ["ada"]})
    page = await bo.threads.search(metadata=marker, limit=1)
    assert [t["thread_id"] for t in page] == [older["thread_id"]]
    assert await bo.threads.count(metadata=marker) == 1
    assert await ada.threads.count(metadata=marker) == 2
    assert await bo.threads.count(metadata={**marker, "members": {"$contains": "ada"}}) == 1

    async with httpx.AsyncClient(base_url=shared_server.url, headers={"x-user": "bo"}) as http:
        everything = await http.post("/runs/cancel", json={"status": "running"})
        assert everything.status_code == 403 and "thread_id" in everything.json()["detail"]
        nobody = await http.get(f"/threads/{both['thread_id']}", headers={"x-user": "eve"})
        assert nobody.status_code == 404
    async with httpx.AsyncClient(base_url=shared_server.url) as http:
        assert (await http.get(f"/threads/{both['thread_id']}")).status_code == 401


async def test_no_taking_over_someone_elses_records(alice, bob):
    thread = await alice.threads.create(metadata={"n": 1})
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await bob.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert exc.value.response.status_code == 409
    patched = await alice.threads.update(thread["thread_id"], metadata={"owner": "bob", "n": 2})
    assert patched["metadata"]["owner"] == "alice" and patched["metadata"]["n"] == 2
    with pytest.raises(NotFoundError):
        await bob.threads.get(thread["thread_id"])


async def test_an_empty_body_is_filtered_and_stamped_too(live_server, alice):
    mine = await alice.threads.create()
    headers = {"Authorization": "Bearer token-bob"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        listed = await http.post("/threads/search")
        assert listed.status_code == 200
        assert mine["thread_id"] not in [t["thread_id"] for t in listed.json()]
        created = await http.post("/threads")
        assert created.status_code == 200 and created.json()["metadata"]["owner"] == "bob"


async def test_store_get_in_the_openapi_array_form_is_scoped_too(live_server, alice):
    await alice.store.put_item(["deep", "ns"], key="k", value={"v": "alice"})
    headers = {"Authorization": "Bearer token-alice"}
    async with httpx.AsyncClient(base_url=live_server.url, headers=headers) as http:
        got = await http.get("/store/items", params=[("namespace", "deep"), ("namespace", "ns"), ("key", "k")])
    assert got.status_code == 200 and got.json()["value"] == {"v": "alice"}
    assert got.json()["namespace"] == ["alice", "deep", "ns"]


async def test_other_spellings_of_an_id_are_checked_too(live_server, alice):
    thread = await alice.threads.create()
    spellings = [thread["thread_id"].upper(), thread["thread_id"].replace("-", ""), "{" + thread["thread_id"] + "}"]
    async with httpx.AsyncClient(base_url=live_server.url, headers={"Authorization": "Bearer token-bob"}) as http:
        for spelling in spellings:
            assert (await http.get(f"/threads/{spelling}")).status_code == 404, spelling


async def test_a_thread_made_by_a_run_belongs_to_the_runs_owner(alice, bob):
    run = await alice.runs.create(None, "one", input={"tag": "s"}, on_completion="keep")
    tid = run["thread_id"]
    assert (await alice.runs.join(tid, run["run_id"]))["messages"] == ["s:0"]
    assert (await alice.threads.get(tid))["metadata"]["owner"] == "alice"
    with pytest.raises(NotFoundError):
        await bob.threads.get(tid)
    named = "5b1d4c7e-0f7a-4f4e-9a51-6a1f0c2b9d33"
    await alice.runs.create(named, "one", input={"tag": "n"}, if_not_exists="create")
    assert (await alice.threads.get(named))["metadata"]["owner"] == "alice"
    with pytest.raises(NotFoundError):
        await bob.threads.get(named)


def test_combining_a_request_filter_with_an_imposed_one():
    from actors.config.filters import combine, matches_metadata

    assert combine({"n": 1}, {"owner": "a"}) == {"n": 1, "owner": "a"}
    assert combine({"owner": "b"}, {"owner": "a"}) is None  # someone else's: nothing can match
    both = combine({"tags": {"$contains": "x"}}, {"tags": {"$contains": "y"}, "owner": {"$eq": "a"}})
    assert matches_metadata({"tags": ["x", "y"], "owner": "a"}, both)
    assert not matches_metadata({"tags": ["x"], "owner": "a"}, both)
    assert matches_metadata({"k": {"a": 1}}, {"k": {"a": 1}})  # a plain mapping is still equality


async def test_protocol_v2_commands_and_streams_are_the_owners(live_server, alice):
    """Protocol v2 under auth: run.start on someone else's thread is 404, on a missing thread it
    creates nothing (the thread would have no owner); the WebSocket is refused (4403)."""
    import uuid

    import websockets

    thread = await alice.threads.create()
    url = f"{live_server.url}/threads/{thread['thread_id']}"
    start = {"id": 1, "method": "run.start", "params": {"assistant_id": "one", "input": {"tag": "v2"}}}
    headers = {"Authorization": "Bearer token-alice"}
    async with httpx.AsyncClient() as http:
        mine = (await http.post(f"{url}/commands", json=start, headers=headers)).json()
        assert mine["type"] == "success", mine
        theirs = await http.post(f"{url}/commands", json=start, headers={"Authorization": "Bearer token-bob"})
        assert theirs.status_code == 404
        missing = (await http.post(f"{live_server.url}/threads/{uuid.uuid4()}/commands", json=start, headers=headers)).json()
        assert missing["error"] == "unknown_error" and missing["message"].startswith("404")
        peek = await http.post(f"{url}/stream/events", json={"channels": ["values"]}, headers={"Authorization": "Bearer token-bob"})
        assert peek.status_code == 404
    ws_url = live_server.url.replace("http://", "ws://") + f"/threads/{thread['thread_id']}/stream/events"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(ws_url) as ws:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
