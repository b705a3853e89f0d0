"""Assistants over HTTP with the real langgraph-sdk client: CRUD, search/count, versions, the graph
behind an assistant, and an assistant's config/context/metadata reaching its runs."""

from __future__ import annotations

import httpx
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from actors.models import graph_assistant_id
from tests.api_support import system  # noqa: F401 - fixture


async def test_default_assistant_per_graph_with_stable_id(client):
    by_graph = await client.assistants.get("steps")
    assert by_graph["assistant_id"] == graph_assistant_id("steps")
    assert by_graph["graph_id"] == "steps"
    found = await client.assistants.search(graph_id="nested")
    assert [a["assistant_id"] for a in found] == [graph_assistant_id("nested")]


async def test_create_get_patch_delete(client):
    created = await client.assistants.create(
        "one", config={"configurable": {"answer": 1}}, metadata={"team": "a"}, name="first", description="d"
    )
    assert created["version"] == 1 and created["name"] == "first" and created["description"] == "d"
    got = await client.assistants.get(created["assistant_id"])
    assert got["metadata"] == {"team": "a"}
    patched = await client.assistants.update(created["assistant_id"], metadata={"stage": "prod"}, name="renamed")
    assert patched["version"] == 2
    assert patched["metadata"] == {"team": "a", "stage": "prod"}
    assert patched["name"] == "renamed"
    assert patched["config"] == {"configurable": {"answer": 1}}
    await client.assistants.delete(created["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get(created["assistant_id"])


async def test_create_if_exists(client):
    created = await client.assistants.create("one", name="twin")
    with pytest.raises(ConflictError):
        await client.assistants.create("one", assistant_id=created["assistant_id"])
    same = await client.assistants.create("one", assistant_id=created["assistant_id"], if_exists="do_nothing", name="other")
    assert same["name"] == "twin"


async def test_search_count_sort_and_paging(client):
    marker = {"suite": "search-count"}
    for i in range(3):
        await client.assistants.create("one", name=f"s{i}", metadata=marker)
    assert await client.assistants.count(metadata=marker) == 3
    assert await client.assistants.count(metadata=marker, graph_id="steps") == 0
    asc = await client.assistants.search(metadata=marker, sort_by="name", sort_order="asc")
    assert [a["name"] for a in asc] == ["s0", "s1", "s2"]
    page = await client.assistants.search(metadata=marker, sort_by="name", sort_order="asc", limit=2, offset=1)
    assert [a["name"] for a in page] == ["s1", "s2"]
    paged = await client.assistants.search(metadata=marker, limit=2, response_format="object")
    assert len(paged["assistants"]) == 2 and paged["next"] == "2"
    assert [a["name"] for a in await client.assistants.search(metadata=marker, name="S1")] == ["s1"]


async def test_versions_and_set_latest(client):
    created = await client.assistants.create("one", config={"configurable": {"answer": "v1"}}, metadata={"v": 1})
    aid = created["assistant_id"]
    await client.assistants.update(aid, config={"configurable": {"answer": "v2"}}, metadata={"v": 2})
    versions = await client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["version"] for v in await client.assistants.get_versions(aid, metadata={"v": 1})] == [1]
    latest = await client.assistants.set_latest(aid, 1)
    assert latest["version"] == 1 and latest["config"] == {"configurable": {"answer": "v1"}}
    assert (await client.assistants.get(aid))["version"] == 1
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(aid, 9)


async def test_graph_schemas_subgraphs(client):
    drawn = await client.assistants.get_graph("nested")
    assert {n["id"] for n in drawn["nodes"]} >= {"__start__", "child", "after", "__end__"}
    xray = await client.assistants.get_graph("nested", xray=True)
    assert any("inner_step" in n["id"] for n in xray["nodes"])
    # as the reference: a runnable node's data is its name, without LangChain's class path
    assert all(n["data"] == {"name": n["id"]} for n in xray["nodes"] if n.get("type") == "runnable")
    schemas = await client.assistants.get_schemas("echo")
    assert schemas["graph_id"] == "echo"
    assert "messages" in schemas["input_schema"]["properties"]
    assert "messages" in schemas["state_schema"]["properties"]
    assert "model" in schemas["context_schema"]["properties"]
    subgraphs = await client.assistants.get_subgraphs("nested")
    assert list(subgraphs) == ["child"]
    # as the reference: a subgraph's entry has no graph_id; its state schema is named after it
    assert "graph_id" not in subgraphs["child"]
    assert subgraphs["child"]["state_schema"]["title"] == "LangGraphState"
    assert await client.assistants.get_subgraphs("nested", namespace="child") == {"child": subgraphs["child"]}
    assert await client.assistants.get_subgraphs("steps") == {}


async def test_assistant_config_context_metadata_merge_into_runs(client):
    configured = await client.assistants.create("echo", config={"configurable": {"answer": 42}})
    result = await client.runs.wait(None, configured["assistant_id"], input={"tag": "x"})
    assert result["messages"] == ["model=default", "answer=42"]  # context keys the schema lacks are dropped
    assistant = await client.assistants.create("echo", context={"model": "big"}, metadata={"owner": "me"})
    thread = await client.threads.create()
    result = await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"], input={"tag": "x"}, config={"configurable": {"answer": 42}}
    )
    assert result["messages"] == ["model=big", "answer=42"]
    # what the run gives wins (both at once is the reference's 400: test_api_runs_options)
    overridden = await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"], input={"tag": "y"}, config={"configurable": {"answer": 7}}
    )
    assert overridden["messages"][-2:] == ["model=big", "answer=7"]
    recontexted = await client.runs.wait(
        thread["thread_id"], assistant["assistant_id"], input={"tag": "z"}, context={"model": "small"}
    )
    assert recontexted["messages"][-2] == "model=small"
    state = await client.threads.get_state(thread["thread_id"])
    assert state["metadata"]["owner"] == "me"


async def test_delete_with_threads(client):
    assistant = await client.assistants.create("one")
    thread = await client.threads.create()
    await client.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"tag": "d"})
    await client.assistants.delete(assistant["assistant_id"], delete_threads=True)
    with pytest.raises(NotFoundError):
        await client.threads.get(thread["thread_id"])


async def test_bad_input_and_unknown_ids(client, live_server):
    with pytest.raises(UnprocessableEntityError) as bad_graph:
        await client.assistants.create("no-such-graph")
    assert "graph_id" in bad_graph.value.response.json()["detail"]
    with pytest.raises(NotFoundError):
        await client.assistants.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await client.assistants.update("00000000-0000-0000-0000-000000000000", name="x")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post("/assistants/search", json={"limit": 0})
        assert r.status_code == 422 and "limit" in r.json()["detail"]
        r = await http.post("/assistants/search", json={"sort_by": "colour"})
        assert r.status_code == 422 and "sort_by" in r.json()["detail"]
        r = await http.get("/assistants/not-a-uuid")
        assert r.status_code == 422 and "assistant_id" in r.json()["detail"]
        r = await http.post(f"/assistants/{graph_assistant_id('one')}/latest", json={"version": "x"})
        assert r.status_code == 422 and "version" in r.json()["detail"]


async def test_search_select_fields(client):
    found = await client.assistants.search(graph_id="nested", select=["assistant_id", "graph_id"])
    assert found == [{"assistant_id": graph_assistant_id("nested"), "graph_id": "nested"}]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/assistants", {}, "graph_id"),
        ("POST", "/assistants", {"graph_id": "one", "assistant_id": "x"}, "assistant_id"),
        ("POST", "/assistants", {"graph_id": "one", "if_exists": "replace"}, "if_exists"),
        ("PATCH", "/assistants/{a}", {"graph_id": "nope"}, "graph_id"),
        ("PATCH", "/assistants/{a}", {"config": []}, "config"),
        ("POST", "/assistants/count", {"metadata": []}, "metadata"),
        ("POST", "/assistants/{a}/versions", {"limit": 0}, "limit"),
        ("POST", "/assistants/{a}/latest", {}, "version"),
        ("GET", "/assistants/{a}/graph?xray=maybe", None, "xray"),
        ("GET", "/assistants/{a}/subgraphs?recurse=maybe", None, "recurse"),
        ("DELETE", "/assistants/{a}?delete_threads=maybe", None, "delete_threads"),
    ],
)
async def test_bad_field_is_named(client, live_server, method, path, body, field):
    assistant = await client.assistants.create("one")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.request(method, path.format(a=assistant["assistant_id"]), json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


async def test_unknown_assistant_is_404_on_every_route(live_server):
    unknown = "00000000-0000-0000-0000-000000000000"
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for method, suffix, body in [
            ("GET", "", None), ("PATCH", "", {}), ("DELETE", "", None), ("POST", "/versions", {}),
            ("POST", "/latest", {"version": 1}), ("GET", "/graph", None), ("GET", "/schemas", None),
            ("GET", "/subgraphs", None),
        ]:
            r = await http.request(method, f"/assistants/{unknown}{suffix}", json=body)
            assert r.status_code == 404, (method, suffix, r.text)
