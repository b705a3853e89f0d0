"""The official JS clients against a real `switchboard serve`: `@langchain/langgraph-sdk` 1.8.x (what
agent-chat-ui ships), 1.9.x and the latest 1.x side by side (npm aliases in tests/js/package.json),
and `RemoteGraph` from `@langchain/langgraph`. Each release runs tests/js/client_matrix.mjs once;
the tests below check what it saw: every stream mode with subgraphs, join streams, Last-Event-ID,
the thread stream, human in the loop, errors, double texting with each strategy.

Releases before 1.10 parse every SSE `data:` line as JSON: any frame the reference does not send
(a closing `end` with empty data) makes them throw at the end of every stream."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.js_support import JS, ensure_js_packages, switchboard_serving

SDKS = ["sdk18", "sdk19", "sdk-latest"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    ensure_js_packages()
    with switchboard_serving(JS / "langgraph.json") as url:
        yield url


_reports: dict[str, dict] = {}


def report(server: str, client: str) -> dict:
    """What tests/js/client_matrix.mjs saw with `client` (run once per client and module)."""
    if client not in _reports:
        result = subprocess.run(
            ["node", "client_matrix.mjs", client, server], cwd=JS, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        _reports[client] = json.loads(result.stdout)
    return _reports[client]


def scenario(server: str, client: str, name: str) -> dict:
    seen = report(server, client)[name]
    assert "failed" not in seen, f"{client} {name}: {seen}"
    return seen


@pytest.fixture(scope="module", params=SDKS)
def sdk(request) -> str:
    return request.param


def test_installed_releases_are_the_ones_asked_for():
    ensure_js_packages()
    versions = {name: json.loads((JS / "node_modules" / name / "package.json").read_text())["version"] for name in SDKS}
    assert versions["sdk18"].startswith("1.8.") and versions["sdk19"].startswith("1.9.")
    major, minor = (int(x) for x in versions["sdk-latest"].split(".")[:2])
    assert major == 1 and minor >= 15


def test_every_stream_mode_with_subgraphs(server, sdk):
    seen = scenario(server, sdk, "all_modes")
    roots = {event.split("|")[0] for event in seen["events"]}
    assert {"metadata", "values", "updates", "messages/partial", "messages/complete", "events", "debug", "custom",
            "tasks", "checkpoints"} <= roots
    assert any(event.startswith("updates|child:") for event in seen["events"])
    # `messages` events carry no namespace, subgraph or not, as the reference's (useStream reads them so)
    assert not [event for event in seen["events"] if event.startswith("messages/") and "|" in event]
    assert seen["partial_contents"][-1] == "from the subgraph"
    assert seen["last"] != "end" and "end" not in seen["events"]
    assert [m["content"] for m in seen["final_values"]["messages"]] == ["hi", "from the subgraph", "after the subgraph"]
    assert seen["custom"] == [["custom", {"progress": "inner"}]]
    assert seen["subgraph_updates"][0]["inner"]["messages"][0]["content"] == "from the subgraph"
    checkpoint = seen["debug_checkpoint"]
    assert checkpoint["checkpoint"]["checkpoint_id"] == checkpoint["config"]["configurable"]["checkpoint_id"]
    assert checkpoint["parent_checkpoint"] is None
    assert {"on_chain_start", "on_chat_model_stream", "on_chain_end"} <= set(seen["event_kinds"])


def test_messages_mode_partials_then_each_message_completed(server, sdk):
    seen = scenario(server, sdk, "messages")
    assert seen["shown"] == [
        ["messages/partial", "ai", "hello"], ["messages/partial", "ai", "hello "], ["messages/partial", "ai", "hello big"],
        ["messages/partial", "ai", "hello big "], ["messages/partial", "ai", "hello big world"],
        ["messages/complete", "ai", "hello big world"],
        ["messages/partial", "ai", "second"], ["messages/partial", "ai", "second "], ["messages/partial", "ai", "second one"],
        ["messages/complete", "ai", "second one"],
        ["messages/complete", "ai", "whole at once"],
    ]
    assert seen["events"].count("messages/metadata") == 3


def test_messages_tuple_mode(server, sdk):
    seen = scenario(server, sdk, "messages_tuple")
    assert seen == {"text": "hello big worldsecond onewhole at once", "nodes": ["chat", "chat_again", "no_tokens"]}


def test_join_stream_follows_a_background_run_and_ends(server, sdk):
    seen = scenario(server, sdk, "join_stream")
    assert seen["updates"] == [{f"step{i}": {"messages": [f"j:{i}"]}} for i in range(3)]
    assert seen["after_end"] == 0  # joining a finished run: the stream ends at once, as the reference's


def test_resumable_stream_replays_after_last_event_id(server, sdk):
    seen = scenario(server, sdk, "resumable")
    assert seen["ids"] == ["0", "1", "2", "3"]
    assert seen["replayed_ids"] == ["2", "3"]
    assert seen["replayed"] == [{"step1": {"messages": ["r:1"]}}, {"step2": {"messages": ["r:2"]}}]


def test_a_dropped_stream_is_resumed_by_the_client_itself(server, sdk):
    # The connection is cut mid-stream; the client rejoins at the stream's Location with the last
    # event id it saw and gets the rest, each event once.
    seen = scenario(server, sdk, "reconnect")
    assert seen["cut"] is True
    assert seen["requests"][0] == "POST /threads/:id/runs/stream"
    assert seen["requests"][1].startswith("GET /threads/:id/runs/:id/stream (Last-Event-ID: ")
    assert seen["ids"] == ["0", "1", "2", "3"]
    assert seen["updates"] == [{f"step{i}": {"messages": [f"c:{i}"]}} for i in range(3)]


def test_thread_stream_shows_a_whole_run(server, sdk):
    seen = scenario(server, sdk, "thread_stream")
    assert seen["events"][0] == "metadata" and seen["events"][-1] == "metadata"  # the run's start, its end
    assert seen["events"].count("values") == 4


def test_human_in_the_loop_interrupt_then_resume(server, sdk):
    seen = scenario(server, sdk, "hitl")
    (event, data), = seen["first"]
    assert event == "updates" and data["__interrupt__"][0]["value"] == {"question": "approve?"}
    assert seen["status_paused"] == "interrupted"
    assert seen["second"] == [["updates", {"ask": {"messages": ["answer:yes"]}}]]
    assert seen["values"] == {"messages": ["answer:yes"], "tag": "h"} and seen["next"] == []


def test_errors_reach_the_client_as_the_reference_sends_them(server, sdk):
    seen = scenario(server, sdk, "errors")
    assert seen["events"] == ["metadata", "updates", "error"]
    assert seen["error"] == {"error": "ValueError", "message": "step 1 failed on purpose"}
    assert seen["thread_status"] == "error"
    assert seen["missing"]["status"] == 404
    assert seen["bad_mode"]["status"] == 422 and "stream_mode" in seen["bad_mode"]["error"]


def test_double_texting_with_each_strategy(server, sdk):
    seen = scenario(server, sdk, "double_texting")
    assert seen["reject"]["rejected"]["status"] == 409 and seen["reject"]["first"] == "success"
    for strategy in ("interrupt", "rollback", "enqueue"):
        assert seen[strategy].pop("seconds") < 20, strategy  # the 30 s step of the first run was stopped, not awaited
    assert seen["interrupt"] == {"first": "interrupted", "messages": ["b:0", "b:1", "b:2"]}
    assert seen["rollback"] == {"first": "gone 404", "messages": ["b:0", "b:1", "b:2"]}
    assert seen["enqueue"] == {"first": "success", "messages": ["a:0", "a:1", "a:2", "b:0", "b:1", "b:2"]}


def test_remote_graph_invoke_and_stream_with_subgraphs(server):
    assert scenario(server, "remote-graph", "invoke") == {"contents": ["hi", "hello big world", "second one", "whole at once"]}
    seen = scenario(server, "remote-graph", "stream_modes")
    assert set(seen["modes"]) == {"values", "updates", "messages", "custom", "debug"}
    assert set(seen["namespaces"]) == {0, 1}  # root and subgraph chunks
    assert seen["custom"] == [{"progress": "inner"}]


def test_remote_graph_human_in_the_loop_and_errors(server):
    seen = scenario(server, "remote-graph", "hitl")
    assert seen == {"interrupt": {"question": "approve?"}, "next": ["ask"], "messages": ["answer:ok"]}
    failure = scenario(server, "remote-graph", "errors")
    assert failure["name"] == "RemoteException" and "step 0 failed on purpose" in failure["error"]
