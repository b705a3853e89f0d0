"""Non-stream wire shapes that match the reference server (seen side by side with `langgraph dev`):
an interrupted subgraph's task in the thread state, `config_schema` as the `configurable` part,
store timestamps, `update_state` refused while any run is pending or running, thread objects
(`error`, `interrupts`, `config`), thread state (`checkpoint_id`s, `checkpoint_map`) and state
schemas."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph_sdk.errors import BadRequestError, ConflictError
from typing_extensions import TypedDict

from actors import ActorSystem, Settings
from actors.config.loading import import_object
from tests.backends import backend_settings
from tests.conftest import STORAGE
from tests.graphs.steps import GRAPHS

parent = import_object("./graphs.py:parent", Path(__file__).parent / "fixtures" / "project", "graph")


@dataclass
class Knobs:
    temperature: float = 0.5
    model: str = "small"


class Text(TypedDict, total=False):
    text: str


def _configurable_graph():
    builder = StateGraph(Text, config_schema=Knobs)
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    builder.add_edge("noop", END)
    return builder.compile()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActorSystem]:
    graphs = {**GRAPHS, "parent": parent, "knobs": _configurable_graph()}
    with backend_settings(STORAGE, tmp_path_factory.mktemp("data")) as storage:
        with ActorSystem(graphs, settings=Settings(**storage)) as actor_system:
            yield actor_system


async def test_an_interrupted_subgraph_task_points_at_its_checkpoint(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "parent", input={"text": "x"})
    [task] = (await client.threads.get_state(tid))["tasks"]
    assert task["name"] == "child" and task["state"] is None
    assert task["checkpoint"] == {"thread_id": tid, "checkpoint_ns": f"child:{task['id']}"}
    [task] = (await client.threads.get_state(tid, subgraphs=True))["tasks"]
    assert task["checkpoint"] is None
    assert task["state"]["next"] == ["ask"] and task["state"]["values"] == {"text": "x"}


async def test_config_schema_is_the_configurable_part(client):
    [knobs] = await client.assistants.search(graph_id="knobs")
    schema = (await client.assistants.get_schemas(knobs["assistant_id"]))["config_schema"]
    assert schema["title"] == "Knobs"
    assert set(schema["properties"]) == {"temperature", "model"}
    [plain] = await client.assistants.search(graph_id="one")
    assert (await client.assistants.get_schemas(plain["assistant_id"]))["config_schema"] == {}


async def test_store_timestamps_have_microseconds_and_utc_offset(client):
    await client.store.put_item(["wire"], "k", {"v": 1})
    item = await client.store.get_item(["wire"], "k")
    [found] = (await client.store.search_items(["wire"]))["items"]
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
    for stamp in (item["created_at"], item["updated_at"], found["created_at"], found["updated_at"]):
        assert pattern.match(stamp), stamp


async def test_update_state_is_409_while_a_run_is_pending_even_a_delayed_one(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "one", input={"tag": "a"})
    delayed = await client.runs.create(tid, "one", input={"tag": "b"}, after_seconds=60)
    with pytest.raises(ConflictError):
        await client.threads.update_state(tid, {"tag": "edited"})
    await client.runs.cancel(tid, delayed["run_id"], wait=True)
    assert (await client.threads.update_state(tid, {"tag": "edited"}))["checkpoint"]["thread_id"] == tid


async def test_assistant_config_configurable_and_context_mirror_each_other(client):
    by_config = await client.assistants.create("one", config={"configurable": {"a": 1}})
    assert by_config["context"] == {"a": 1}
    by_context = await client.assistants.create("one", config={"tags": ["t"]}, context={"b": 2})
    assert by_context["config"]["configurable"] == {"b": 2}
    patched = await client.assistants.update(by_context["assistant_id"], context={"c": 3})
    assert patched["config"] == {"configurable": {"c": 3}} and patched["context"] == {"c": 3}
    patched = await client.assistants.update(by_context["assistant_id"], config={"configurable": {"d": 4}})
    assert patched["context"] == {"d": 4}
    with pytest.raises(BadRequestError):
        await client.assistants.create("one", config={"configurable": {"a": 1}}, context={"b": 1})


def test_a_system_assistant_is_named_after_its_compiled_graph():
    builder = StateGraph(Text)
    builder.add_node("noop", lambda state: {})
    builder.add_edge(START, "noop")
    builder.add_edge("noop", END)
    with ActorSystem({"planner": builder.compile(name="Planner"), "plain": builder.compile()}) as system:
        assert system.assistants.search(graph_id="planner")[0]["name"] == "Planner"
        assert system.assistants.search(graph_id="plain")[0]["name"] == "plain"


TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


async def test_records_times_are_written_as_the_reference_writes_them(client):
    assistant = await client.assistants.create("one", metadata={"suite": "times"})
    await client.assistants.update(assistant["assistant_id"], metadata={"v": 2})
    versions = await client.assistants.get_versions(assistant["assistant_id"])
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "one", input={"tag": "t"})
    await client.runs.join(thread["thread_id"], run["run_id"])
    cron = await client.crons.create("one", schedule="0 0 1 1 *")
    disabled = await client.crons.update(cron["cron_id"], enabled=False)
    [selected] = await client.crons.search(assistant_id="one", select=["cron_id", "next_run_date", "created_at"], limit=100)
    stamps = [
        assistant["created_at"], assistant["updated_at"], *(v["created_at"] for v in versions),
        thread["created_at"], thread["updated_at"], thread["state_updated_at"],
        (await client.threads.get(thread["thread_id"]))["state_updated_at"],
        run["created_at"], (await client.runs.get(thread["thread_id"], run["run_id"]))["updated_at"],
        cron["next_run_date"], cron["created_at"], disabled["next_run_date"], selected["next_run_date"],
        selected["created_at"],
    ]
    for stamp in stamps:
        assert TIME.match(stamp), stamp
    assert cron["next_run_date"].endswith("T00:00:00+00:00")  # no fraction when there is none, as there
    await client.crons.delete(cron["cron_id"])


async def test_a_runs_metadata_is_merged_and_stamped_as_on_the_reference(client):
    assistant = await client.assistants.create("one", metadata={"team": "blue"})
    thread = await client.threads.create(metadata={"project": "p1"})
    tid = thread["thread_id"]
    run = await client.runs.create(tid, assistant["assistant_id"], input={"tag": "m"}, metadata={"mine": 1})
    assert run["metadata"] == {"team": "blue", "project": "p1", "mine": 1, "graph_id": "one",
                               "assistant_id": assistant["assistant_id"]}
    await client.runs.join(tid, run["run_id"])
    metadata = (await client.threads.get_state(tid))["metadata"]
    expected = {"team": "blue", "project": "p1", "mine": 1, "thread_id": tid, "run_id": run["run_id"],
                "run_attempt": 1, "user_id": "", "langgraph_auth_user_id": ""}
    assert expected.items() <= metadata.items()
    parts = [part async for part in client.runs.stream(tid, "one", input={"tag": "n"}, stream_mode=["checkpoints", "tasks"])]
    configurable = [p.data for p in parts if p.event == "checkpoints"][-1]["config"]["configurable"]
    assert {"user_id": "", "langgraph_auth_user": None, "langgraph_auth_user_id": "",
            "langgraph_auth_permissions": []}.items() <= configurable.items()
    task = next(p.data for p in parts if p.event == "tasks")  # what a node's config metadata holds
    assert {"project": "p1", "run_attempt": 1}.items() <= task["metadata"].items()
    stateless = await client.runs.create(None, "one", input={"tag": "s"})  # no thread of its own yet
    assert stateless["metadata"] == {"created_by": "system", "assistant_id": stateless["assistant_id"]}


async def test_a_thread_says_error_and_interrupts_once_a_run_has_ended(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    assert "error" not in thread and "interrupts" not in thread  # never run: left out, as there
    assert "interrupts" not in (await client.threads.search(ids=[tid], select=["thread_id", "interrupts"]))[0]
    await client.runs.wait(tid, "one", input={"tag": "a", "fail_at": 0}, raise_error=False)
    failed = await client.threads.get(tid)
    assert failed["status"] == "error"
    assert failed["error"] == {"error": "ValueError", "message": "step 0 failed on purpose"}
    assert failed["interrupts"] == {}
    [task] = (await client.threads.get_state(tid))["tasks"]
    assert task["error"] == "ValueError('step 0 failed on purpose')"  # the repr, not quoted again
    await client.runs.wait(tid, "one", input={"tag": "b", "fail_at": -1})
    assert (await client.threads.get(tid))["error"] is None


async def test_a_thread_keeps_its_runs_config_but_not_their_configurable(client):
    assistant = await client.assistants.create("one", config={"configurable": {"ak": "av"}, "tags": ["assistant"]})
    thread = await client.threads.create()
    tid = thread["thread_id"]
    assert thread["config"] == {}
    await client.runs.wait(tid, assistant["assistant_id"], input={"tag": "a"},
                           config={"configurable": {"per_run": 1}, "tags": ["run"], "recursion_limit": 9})
    assert (await client.threads.get(tid))["config"] == {
        "configurable": {"ak": "av"}, "tags": ["run"], "recursion_limit": 9,
    }
    await client.runs.wait(tid, "one", input={"tag": "b"})  # the thread's keys stay, none added
    assert (await client.threads.get(tid))["config"]["configurable"] == {"ak": "av"}
    copied = await client.threads.copy(tid)
    assert copied["config"] == {} and "error" not in copied


async def test_thread_state_names_its_checkpoints_as_the_reference_does(client):
    empty = await client.threads.create()
    never_run = await client.threads.get_state(empty["thread_id"])
    assert never_run["metadata"] is None
    assert never_run["checkpoint_id"] is None and never_run["parent_checkpoint_id"] is None
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "s"})
    state = await client.threads.get_state(tid)
    assert state["checkpoint"] == {"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": state["checkpoint_id"]}
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]
    assert "checkpoint_map" not in state["parent_checkpoint"]
    history = await client.threads.get_history(tid)
    assert [h["checkpoint_id"] for h in history] == [h["checkpoint"]["checkpoint_id"] for h in history]
    earlier = history[1]["checkpoint"]["checkpoint_id"]
    at = await client.threads.get_state(tid, checkpoint_id=earlier)
    # the reference leaves checkpoint_ns out here, which breaks RemoteGraph (docs/differences.md, D21)
    assert at["checkpoint"] == {"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": earlier}


async def test_update_state_answers_checkpoint_configurable_and_id(client):
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "one", input={"tag": "a"})
    updated = await client.threads.update_state(tid, {"tag": "edited"})
    written = {"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": updated["checkpoint_id"]}
    assert updated == {"checkpoint": written, "configurable": written, "checkpoint_id": written["checkpoint_id"]}
    state = await client.threads.get_state(tid)
    assert state["checkpoint_id"] == updated["checkpoint_id"]
    assert state["metadata"]["source"] == "update" and state["metadata"]["graph_id"] == "one"
    thread = await client.threads.get(tid)
    assert thread["error"] is None and thread["interrupts"] == {}


async def test_a_subgraph_checkpoint_names_its_map_and_streamed_interrupts_name_the_inner_task(client):
    tid = (await client.threads.create())["thread_id"]
    async for _ in client.runs.stream(tid, "parent", input={"text": "x"}, stream_subgraphs=True):
        pass
    state = await client.threads.get_state(tid, subgraphs=True)
    [outer] = state["tasks"]
    [inner] = outer["state"]["tasks"]
    assert set(outer["state"]["checkpoint"]["checkpoint_map"]) == {"", f"child:{outer['id']}"}
    assert outer["state"]["checkpoint_id"] == outer["state"]["checkpoint"]["checkpoint_id"]
    # the run streamed its subgraphs: as on the reference, keyed by the task that called interrupt()
    assert list((await client.threads.get(tid))["interrupts"]) == [inner["id"]]
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "parent", input={"text": "y"})
    [outer] = (await client.threads.get_state(tid))["tasks"]
    assert list((await client.threads.get(tid))["interrupts"]) == [outer["id"]]


async def test_state_schemas_are_named_after_the_graph_with_optional_fields(client):
    schema = (await client.assistants.get_schemas("one"))["state_schema"]
    assert schema["title"] == "one_state" and "required" not in schema
    assert all(field["default"] is None for field in schema["properties"].values())
    assert set(schema["properties"]) >= {"messages", "tag"}
    [child] = (await client.assistants.get_subgraphs("parent")).values()
    assert "graph_id" not in child and child["state_schema"]["title"] == "LangGraphState"
