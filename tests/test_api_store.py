"""The store routes, driven by the real SDK against a real uvicorn; graphs share the same store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph_sdk.errors import UnprocessableEntityError
from typing_extensions import TypedDict

from actors import ActorSystem, Settings
from tests.graphs.steps import GRAPHS


class MemoryState(TypedDict, total=False):
    user: str
    remembered: Any


async def remember(state: MemoryState, *, store: BaseStore) -> dict[str, Any]:
    """Read what a client put in the store, and write something back for the client."""
    namespace = ("memories", state["user"])
    item = await store.aget(namespace, "profile")
    await store.aput(namespace, "seen_by_graph", {"saw": item.value if item else None})
    return {"remembered": item.value if item else None}


def build_memory_graph():
    builder = StateGraph(MemoryState)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile()


@pytest.fixture(scope="module")
def system() -> Iterator[ActorSystem]:
    with ActorSystem({**GRAPHS, "memory": build_memory_graph()}, settings=Settings(idle_timeout=5.0)) as actor_system:
        yield actor_system


async def test_put_get_delete_round_trip(client):
    await client.store.put_item(["users", "u1"], key="prefs", value={"theme": "dark"})
    item = await client.store.get_item(["users", "u1"], key="prefs")
    assert item["namespace"] == ["users", "u1"]
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark"}
    assert item["created_at"] and item["updated_at"]

    await client.store.put_item(["users", "u1"], key="prefs", value={"theme": "light"})
    assert (await client.store.get_item(["users", "u1"], key="prefs"))["value"] == {"theme": "light"}

    await client.store.delete_item(["users", "u1"], key="prefs")
    assert await client.store.get_item(["users", "u1"], key="prefs") is None


async def test_search_by_prefix_filter_and_paging(client):
    for i in range(5):
        await client.store.put_item(["docs", "team-a"], key=f"d{i}", value={"n": i, "kind": "even" if i % 2 == 0 else "odd"})
    await client.store.put_item(["docs", "team-b"], key="other", value={"n": 99, "kind": "even"})

    found = await client.store.search_items(["docs", "team-a"], limit=10)
    assert sorted(item["key"] for item in found["items"]) == [f"d{i}" for i in range(5)]

    evens = await client.store.search_items(["docs"], filter={"kind": "even"}, limit=10)
    assert sorted(item["key"] for item in evens["items"]) == ["d0", "d2", "d4", "other"]

    first = await client.store.search_items(["docs", "team-a"], limit=2, offset=0)
    rest = await client.store.search_items(["docs", "team-a"], limit=10, offset=2)
    assert len(first["items"]) == 2 and len(rest["items"]) == 3
    assert {i["key"] for i in first["items"]}.isdisjoint({i["key"] for i in rest["items"]})


async def test_list_namespaces_with_prefix_suffix_depth(client):
    await client.store.put_item(["ns", "a", "x"], key="k", value={})
    await client.store.put_item(["ns", "b", "x"], key="k", value={})
    await client.store.put_item(["ns", "b", "y"], key="k", value={})

    listed = await client.store.list_namespaces(prefix=["ns"])
    assert sorted(listed["namespaces"]) == [["ns", "a", "x"], ["ns", "b", "x"], ["ns", "b", "y"]]
    assert sorted((await client.store.list_namespaces(prefix=["ns"], suffix=["x"]))["namespaces"]) == [
        ["ns", "a", "x"], ["ns", "b", "x"],
    ]
    assert sorted((await client.store.list_namespaces(prefix=["ns"], max_depth=2))["namespaces"]) == [["ns", "a"], ["ns", "b"]]


async def test_graph_nodes_read_and_write_the_same_store(client):
    await client.store.put_item(["memories", "ada"], key="profile", value={"name": "Ada"})
    thread = await client.threads.create()
    result = await client.runs.wait(thread["thread_id"], "memory", input={"user": "ada"})
    assert result["remembered"] == {"name": "Ada"}
    written = await client.store.get_item(["memories", "ada"], key="seen_by_graph")
    assert written["value"] == {"saw": {"name": "Ada"}}


async def test_bad_input_names_the_field(client, live_server):
    with pytest.raises(UnprocessableEntityError) as exc:
        await client.store.put_item([], key="k", value={})
    assert "namespace" in exc.value.response.json()["detail"]

    async with httpx.AsyncClient(base_url=live_server.url) as http:
        no_value = await http.put("/store/items", json={"namespace": ["a"], "key": "k"})
        assert no_value.status_code == 422 and "value" in no_value.json()["detail"]
        bad_value = await http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": 3})
        assert bad_value.status_code == 422 and "$.value" in bad_value.json()["detail"]
        dotted = await http.put("/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}})
        assert dotted.status_code == 422 and "namespace" in dotted.json()["detail"]
        no_key = await http.get("/store/items", params={"namespace": "a"})
        assert no_key.status_code == 422 and "key" in no_key.json()["detail"]
        ttl = await http.put("/store/items", json={"namespace": ["a"], "key": "k", "value": {}, "ttl": 5})
        assert ttl.status_code == 422 and "TTL" in ttl.json()["detail"]
        paging = await http.post("/store/items/search", json={"namespace_prefix": ["a"], "limit": -1})
        assert paging.status_code == 422 and "limit" in paging.json()["detail"]
        broken = await http.post("/store/items/search", content=b"{nope")
        assert broken.status_code == 400


async def test_get_accepts_the_openapi_array_form_of_namespace(client, live_server):
    await client.store.put_item(["arr", "form"], key="k", value={"ok": True})
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.get("/store/items", params=[("namespace", "arr"), ("namespace", "form"), ("key", "k")])
    assert response.status_code == 200
    assert response.json()["value"] == {"ok": True}


EMBEDDINGS = '''
def embed(texts):
    """A tiny deterministic embedding: letter counts (26 dims)."""
    vectors = []
    for text in texts:
        vector = [0.0] * 26
        for ch in text.lower():
            if "a" <= ch <= "z":
                vector[ord(ch) - 97] += 1.0
        vectors.append(vector)
    return vectors
'''


@pytest.fixture(scope="module")
def indexed_server(tmp_path_factory):
    from server.app import create_app
    from tests.conftest import LiveServer

    folder = tmp_path_factory.mktemp("indexed")
    (folder / "embeddings.py").write_text(EMBEDDINGS)
    (folder / "langgraph.json").write_text(
        '{"graphs": {"one": "tests.graphs.steps:one_step"},'
        ' "store": {"index": {"embed": "./embeddings.py:embed", "dims": 26, "fields": ["text"]}}}'
    )
    with ActorSystem(settings=Settings(config_path=str(folder / "langgraph.json"))) as actor_system:
        with LiveServer(create_app(actor_system, own_system=False)) as server:
            yield server


async def test_query_ranks_by_meaning_when_an_index_is_configured(indexed_server):
    from langgraph_sdk import get_client

    client = get_client(url=indexed_server.url)
    await client.store.put_item(["kb"], key="fruit", value={"text": "apples and bananas"})
    await client.store.put_item(["kb"], key="cars", value={"text": "trucks, cars, buses"})
    found = (await client.store.search_items(["kb"], query="banana"))["items"]
    assert [item["key"] for item in found] == ["fruit", "cars"]
    assert found[0]["score"] > found[1]["score"]
    found = (await client.store.search_items(["kb"], query="truck"))["items"]
    assert found[0]["key"] == "cars"


def test_bad_store_index_config_is_a_clear_error(tmp_path):
    from actors.config.graphs import GraphConfigError

    (tmp_path / "langgraph.json").write_text(
        '{"graphs": {"one": "tests.graphs.steps:one_step"}, "store": {"index": {"embed": "./nope.py:embed", "dims": 3}}}'
    )
    with pytest.raises(GraphConfigError, match="store.index.embed: file not found"):
        ActorSystem(settings=Settings(config_path=str(tmp_path / "langgraph.json")))
    (tmp_path / "langgraph.json").write_text(
        '{"graphs": {"one": "tests.graphs.steps:one_step"}, "store": {"index": {"embed": "x:y", "dims": 0}}}'
    )
    with pytest.raises(GraphConfigError, match="dims"):
        ActorSystem(settings=Settings(config_path=str(tmp_path / "langgraph.json")))
