"""Protocol v2 (the thread-centric protocol of `@langchain/react`) end to end: a real `switchboard
serve` on a free port, driven by the real clients - `client.threads.stream` of
`@langchain/langgraph-sdk` (node, over SSE and WebSocket), the Python SDK's v2 transports - and by
raw HTTP / WebSocket for the exact wire rules (`since`, `resume_gap`, errors)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from langgraph_sdk import get_client

from tests.conftest import wait_until
from tests.server_process import free_port

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js_v2"
GRAPHS = JS / "graphs.py"


class Serve:
    """`switchboard serve` with the protocol test graphs, as a subprocess."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        config = workdir / "langgraph.json"
        config.write_text(json.dumps({"graphs": {name: f"{GRAPHS}:{name}" for name in ("chat", "hitl", "nested", "tools")}}))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = workdir / "server.log"
        cmd = [
            sys.executable, "-m", "server.cli", "serve", "--config", str(config), "--port", self.url.rsplit(":", 1)[1],
            "--storage", "memory", "--log-level", "warning", *extra,
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wait_until(self._ready, timeout=60, interval=0.05)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    serve = Serve(tmp_path_factory.mktemp("v2"))
    yield serve
    serve.stop()


@pytest.fixture(scope="module")
def node_modules():
    """The JS test package installed (npm, from its lock file) on first use."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the protocol v2 client tests (apt-get install nodejs npm)")
    installed = JS / "node_modules" / ".package-lock.json"  # npm's record of what it installed
    if not installed.exists() or installed.stat().st_mtime < (JS / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, capture_output=True, timeout=600)
    return JS / "node_modules"


def run_js(node_modules, url: str, transport: str, scenario: str) -> dict:
    done = subprocess.run(
        ["node", "thread_stream.mjs", url, transport, scenario], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def command(url: str, thread_id: str, method: str, params: dict, command_id: int = 1) -> httpx.Response:
    return httpx.post(f"{url}/threads/{thread_id}/commands", json={"id": command_id, "method": method, "params": params}, timeout=10)


def start_chat(url: str, thread_id: str, words: int, text: str = "hi") -> str:
    reply = command(url, thread_id, "run.start", {
        "assistant_id": "chat", "input": {"messages": [{"type": "human", "content": text}]}, "config": {"configurable": {"words": words}},
    }).json()
    assert reply["type"] == "success", reply
    return reply["result"]["run_id"]


def read_events(url: str, thread_id: str, body: dict, *, until=None, limit: int = 10_000) -> list[dict]:
    """SSE events of a thread (the decoded `data`), until `until(event)` is true."""
    events: list[dict] = []
    with httpx.stream("POST", f"{url}/threads/{thread_id}/stream/events", json=body, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line[len("data: "):]))
            if (until is not None and until(events[-1])) or len(events) >= limit:
                break
    return events


def root_terminal(event: dict) -> bool:
    return event.get("method") == "lifecycle" and not event["params"]["namespace"] and event["params"]["data"]["event"] in (
        "completed", "failed", "interrupted",
    )


# --- the real JS client ----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_js_thread_stream_streams_a_message_token_by_token(server, node_modules, transport):
    seen = run_js(node_modules, server.url, transport, "stream")
    [message] = seen["messages"]
    assert len(message["deltas"]) == 11  # "echo:hi", then " " and "wN" for each of 5 words
    assert message["text"] == "echo:hi w0 w1 w2 w3 w4" == seen["final"]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_js_interrupt_pauses_and_input_respond_resumes(server, node_modules, transport):
    seen = run_js(node_modules, server.url, transport, "hitl")
    assert seen["lifecycle"] == ["running", "interrupted"]
    assert seen["interrupt"]["payload"] == {"question": "approve?"}
    assert seen["final"].startswith("echo:answer:yes")


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_js_tool_calls_stream_on_the_tools_channel(server, node_modules, transport):
    seen = run_js(node_modules, server.url, transport, "tools")
    [call] = seen["calls"]
    assert call["name"] == "add" and call["callId"] == "call-1" and call["input"] == {"a": 2, "b": 3}
    assert str(call["output"]) == "5"
    assert seen["messages"] == ["human", "ai", "tool"]


def test_js_double_texting_applies_each_strategy(server, node_modules):
    seen = run_js(node_modules, server.url, "sse", "double")
    assert seen["reject"]["error"].startswith("409: Thread is already running a task")
    assert seen["enqueue"] == {"runs": {"first": "interrupted", "second": "success"}, "humans": ["first", "second"]}
    assert seen["interrupt"] == {"runs": {"first": "interrupted", "second": "success"}, "humans": ["first", "second"]}
    assert seen["rollback"] == {"runs": {"second": "success"}, "humans": ["second"]}


# --- the Python SDK's v2 transports ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_python_sdk_thread_stream(server, transport):
    client = get_client(url=server.url)
    async with client.threads.stream(assistant_id="hitl", transport=transport) as thread:
        await thread.run.start(input={"messages": [{"type": "human", "content": "hi"}]})
        # The Python SDK treats `interrupted` as a pause (thread.output waits for the resumed run).
        deadline = asyncio.get_running_loop().time() + 30
        while not thread.interrupted:
            assert asyncio.get_running_loop().time() < deadline, "no input.requested arrived"
            await asyncio.sleep(0.02)
        assert len(thread.interrupts) == 1
        await thread.run.respond("yes")
        values = await thread.output.with_timeout(30)
    assert values["messages"][1]["content"] == "answer:yes"
    assert values["messages"][-1]["content"].startswith("echo:answer:yes")


# --- wire rules ------------------------------------------------------------------------------------


def test_since_resumes_with_exactly_what_was_missed(server):
    thread_id = str(uuid.uuid4())
    start_chat(server.url, thread_id, words=20)
    every = ["values", "updates", "messages", "tools", "custom", "lifecycle", "input", "checkpoints", "tasks"]
    first = read_events(server.url, thread_id, {"channels": every}, limit=12)  # then the client drops
    rest = read_events(server.url, thread_id, {"channels": every, "since": first[-1]["seq"]}, until=root_terminal)
    whole = read_events(server.url, thread_id, {"channels": every}, until=root_terminal)
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing repeated
    assert [e["event_id"] for e in first + rest] == [e["event_id"] for e in whole]
    assert rest[-1]["params"]["data"]["event"] == "completed"


def test_events_are_filtered_by_channel_and_namespace(server):
    thread_id = str(uuid.uuid4())
    reply = command(server.url, thread_id, "run.start", {"assistant_id": "nested", "input": {"items": ["a"]}}).json()
    assert reply["type"] == "success"
    whole = read_events(server.url, thread_id, {"channels": ["values", "lifecycle"]}, until=root_terminal)
    child = [e for e in whole if e["params"]["namespace"]]
    assert child and all(e["params"]["namespace"][0].startswith("child:") for e in child)
    assert [e["params"]["data"]["event"] for e in child if e["method"] == "lifecycle"] == ["started", "completed"]
    only_child = read_events(server.url, thread_id, {"channels": ["values", "lifecycle"], "namespaces": [["child"]]}, limit=len(child))
    assert [e["seq"] for e in only_child] == [e["seq"] for e in child]
    depth_zero = read_events(
        server.url, thread_id, {"channels": ["lifecycle"], "namespaces": [[]], "depth": 0}, until=root_terminal
    )
    assert all(not e["params"]["namespace"] for e in depth_zero)


def test_resume_gap_when_the_buffer_no_longer_has_the_events(tmp_path):
    small = Serve(tmp_path, "--protocol-buffer-events", "5")
    try:
        thread_id = str(uuid.uuid4())
        start_chat(small.url, thread_id, words=3)
        wait_until(lambda: httpx.get(f"{small.url}/threads/{thread_id}").json()["status"] == "idle", timeout=30)
        [gap] = read_events(small.url, thread_id, {"channels": ["values"], "since": 2})
        assert gap["error"] == "resume_gap" and gap["since"] == 2 and gap["min_available_seq"] > 3
        kept = read_events(small.url, thread_id, {"channels": ["lifecycle"], "since": gap["min_available_seq"] - 1}, until=root_terminal)
        assert kept[-1]["params"]["data"]["event"] == "completed"
    finally:
        small.stop()


def test_command_errors_are_the_protocols(server):
    thread_id = str(uuid.uuid4())
    url = f"{server.url}/threads/{thread_id}/commands"
    bad = httpx.post(url, json={"method": "run.start"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_argument"
    assert httpx.post(url, content=b"{nope").status_code == 400
    unknown = command(server.url, thread_id, "nope.x", {}).json()
    assert (unknown["error"], unknown["message"]) == ("unknown_command", "Unknown protocol command: nope.x")
    assert command(server.url, thread_id, "run.start", {"input": {}}).json()["error"] == "invalid_argument"
    missing = command(server.url, thread_id, "run.start", {"assistant_id": "nosuch", "input": {}}).json()
    assert missing["error"] == "unknown_error" and missing["message"].startswith("422: Invalid assistant")
    strategy = command(server.url, thread_id, "run.start", {"assistant_id": "chat", "input": {}, "multitaskStrategy": "later"}).json()
    assert strategy["error"] == "invalid_argument" and "multitaskStrategy" in strategy["message"]
    start_chat(server.url, thread_id, words=1)
    nope = command(server.url, thread_id, "input.respond", {"namespace": [], "interrupt_id": "zzz", "response": 1}).json()
    assert nope["error"] == "no_such_interrupt"
    stream = httpx.post(f"{server.url}/threads/{thread_id}/stream/events", json={"channels": ["vibes"]})
    assert stream.status_code == 400 and "vibes" in stream.json()["detail"]
    assert httpx.post(f"{server.url}/threads/{thread_id}/stream/events", json={"channels": []}).status_code == 400
    assert httpx.post(f"{server.url}/threads/{thread_id}/stream/events", json={"channels": ["values"], "since": -1}).status_code == 422


def test_camel_case_strategy_wins_as_on_the_reference(server):
    thread_id = str(uuid.uuid4())
    first = start_chat(server.url, thread_id, words=200)
    wait_until(lambda: httpx.get(f"{server.url}/threads/{thread_id}/runs/{first}").json()["status"] == "running", timeout=30)
    reply = command(server.url, thread_id, "run.start", {
        "assistant_id": "chat", "input": {"messages": []}, "multitaskStrategy": "reject", "multitask_strategy": "interrupt",
    }).json()
    assert reply["error"] == "unknown_error" and reply["message"].startswith("409")
    httpx.post(f"{server.url}/threads/{thread_id}/runs/{first}/cancel", timeout=10)


async def test_websocket_subscribe_unsubscribe_reconnect(server):
    thread_id = str(uuid.uuid4())
    ws_url = server.url.replace("http://", "ws://") + f"/threads/{thread_id}/stream/events"
    async with websockets.connect(ws_url) as ws:
        async def ask(command_id: int, method: str, params: dict) -> tuple[dict, list[dict]]:
            await ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
            events = []
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "event":
                    assert message["id"] == command_id
                    return message, events
                events.append(message)

        subscribed, _ = await ask(1, "subscription.subscribe", {"channels": ["lifecycle", "messages"]})
        sub_id = subscribed["result"]["subscription_id"]
        started, _ = await ask(2, "run.start", {"assistant_id": "chat", "input": {"messages": [{"type": "human", "content": "x"}]}, "config": {"configurable": {"words": 2}}})
        assert started["type"] == "success"
        live = []
        while not live or not root_terminal(live[-1]):
            live.append(json.loads(await ws.recv()))
        assert {e["method"] for e in live} == {"lifecycle", "messages"}
        assert [e["seq"] for e in live] == sorted({e["seq"] for e in live})
        gone, _ = await ask(3, "subscription.unsubscribe", {"subscription_id": sub_id})
        assert gone["type"] == "success"
        unknown, _ = await ask(4, "subscription.unsubscribe", {"subscription_id": sub_id})
        assert unknown["error"] == "no_such_subscription"
        middle = live[len(live) // 2]
        restored, missed = await ask(5, "subscription.reconnect", {"channels": ["lifecycle", "messages"], "last_event_id": middle["event_id"]})
        assert restored["result"]["restored"] and restored["result"]["missed_events"] == len(missed)
        assert [e["event_id"] for e in missed] == [e["event_id"] for e in live if e["seq"] > middle["seq"]]
        gap, _ = await ask(6, "subscription.subscribe", {"channels": ["values"], "since": 10**6})
        assert gap["error"] == "resume_gap"


# --- a page on @langchain/react's useStream, in headless Chromium ---------------------------------


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_use_stream_page_in_chromium(server, node_modules, transport):
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian chromium is needed for the browser test (apt-get install chromium)")
    done = subprocess.run(["node", "browser.mjs", server.url, transport], cwd=JS, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # A message streams in: the page showed it growing token by token, then the whole answer.
    final = "echo:hello " + " ".join(f"w{i}" for i in range(10))
    assert seen["stream"]["final"] == final and seen["stream"]["humans"] == ["hello"]
    growing = [text for text in seen["stream"]["seen"] if text]
    assert len(growing) >= 10 and all(final.startswith(text) for text in growing)
    # A second message while the first streams, with each strategy (useStream's defaults: it queues
    # `enqueue` and refuses `reject` itself; `interrupt` and `rollback` go to the server).
    double = seen["double"]
    assert double["enqueue"]["server"] == ["first", "second"] and double["enqueue"]["runs"] == ["success", "success"]
    assert double["interrupt"]["server"] == ["first", "second"] and double["interrupt"]["runs"] == ["interrupted", "success"]
    assert double["rollback"]["server"] == ["second"] and double["rollback"]["runs"] == ["success"]
    assert double["reject"]["server"] == ["first"] and "rejected" in double["reject"]["submitError"]
    for strategy in double:
        assert double[strategy]["shown"][-1].startswith("ai:echo:"), double[strategy]
        # What the page shows besides the thread's messages: only the stopped run's partial answer.
        assert all(stale.startswith("ai:echo:first") for stale in double[strategy]["stale"])
    # interrupt() pauses the run; respond() resumes it.
    assert seen["hitl"]["interrupt"] == {"question": "approve?"}
    assert seen["hitl"]["ais"] == ["answer:yes", "echo:answer:yes " + " ".join(f"w{i}" for i in range(8))]
    # A reload mid-answer rejoins the thread's stream: the answer goes on growing, once.
    reload = seen["reload"]
    whole = "echo:reload me " + " ".join(f"w{i}" for i in range(40))
    assert reload["sameThread"] and reload["humans"] == ["reload me"] and reload["ais"] == [whole]
    assert len(reload["seen"]) > 1 and all(whole.startswith(text) for text in reload["seen"])


def test_run_start_on_an_interrupted_thread_resumes_it_with_the_input(server):
    """As the protocol's state machine says, and the reference does."""
    thread_id = str(uuid.uuid4())
    first = command(server.url, thread_id, "run.start", {"assistant_id": "hitl", "input": {"messages": [{"type": "human", "content": "hi"}]}}).json()
    assert first["type"] == "success"
    wait_until(lambda: httpx.get(f"{server.url}/threads/{thread_id}").json()["status"] == "interrupted", timeout=30)
    again = command(server.url, thread_id, "run.start", {"assistant_id": "hitl", "input": "yes please", "config": {"configurable": {"words": 1}}}).json()
    assert again["type"] == "success"
    wait_until(lambda: httpx.get(f"{server.url}/threads/{thread_id}").json()["status"] == "idle", timeout=30)
    messages = httpx.get(f"{server.url}/threads/{thread_id}/state").json()["values"]["messages"]
    assert [m["content"] for m in messages[:2]] == ["hi", "answer:yes please"]


def test_runs_of_the_runs_api_reach_the_v2_stream_too(server):
    """The v2 stream is fed by the thread's feed, the source the runs API streams from: a run made
    with POST /threads/{id}/runs shows up with the modes it asked for."""
    thread_id = httpx.post(f"{server.url}/threads", json={}).json()["thread_id"]
    with httpx.stream("POST", f"{server.url}/threads/{thread_id}/stream/events", json={"channels": ["lifecycle"]}) as opened:
        assert opened.status_code == 200  # the thread's buffer follows the thread from now on
    run = httpx.post(f"{server.url}/threads/{thread_id}/runs", json={
        "assistant_id": "chat", "input": {"messages": [{"type": "human", "content": "rest"}]},
        "stream_mode": ["values", "messages-tuple"], "config": {"configurable": {"words": 1}},
    }).json()
    events = read_events(server.url, thread_id, {"channels": ["lifecycle", "values", "messages", "updates"]}, until=root_terminal)
    assert [e["params"]["data"]["event"] for e in events if e["method"] == "lifecycle"] == ["running", "completed"]
    assert {e["method"] for e in events} == {"lifecycle", "values", "messages"}  # no updates: not asked for
    assert events[-2]["params"]["data"]["messages"][-1]["content"] == "echo:rest w0"
    assert httpx.get(f"{server.url}/threads/{thread_id}/runs/{run['run_id']}").json()["status"] == "success"
    buffers = httpx.get(f"{server.url}/metrics", params={"format": "json"}).json()["protocol_buffers"]
    assert buffers["buffers"] >= 1 and buffers["events"] >= len(events) and buffers["bytes"] > 0
