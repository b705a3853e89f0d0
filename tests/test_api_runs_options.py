"""Run options over HTTP with the real langgraph-sdk client: listing and paging, get/delete,
checkpoint (time travel, forking), interrupt_before/after, command (update, goto), after_seconds,
if_not_exists, metadata, durability, and webhooks (delivered, retried, never blocking the thread)."""

from __future__ import annotations

import threading

import httpx
import pytest
from langgraph_sdk.errors import ConflictError, NotFoundError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.api_support import system  # noqa: F401 - fixture
from tests.conftest import LiveServer, wait_until


async def test_list_filter_paging_get_delete(client, live_server):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    runs = [await client.runs.create(tid, "one", input={"tag": f"l{i}"}) for i in range(3)]
    for run in runs:
        await client.runs.join(tid, run["run_id"])
    listed = await client.runs.list(tid)
    assert [r["run_id"] for r in listed] == [r["run_id"] for r in reversed(runs)]
    assert [r["run_id"] for r in await client.runs.list(tid, limit=1, offset=1)] == [runs[1]["run_id"]]
    assert len(await client.runs.list(tid, status="success")) == 3
    assert await client.runs.list(tid, status="pending") == []
    blocker = await client.runs.create(tid, "steps", input={"tag": "b", "delay": 5})
    with pytest.raises(ConflictError):
        await client.runs.delete(tid, blocker["run_id"])
    await client.runs.cancel(tid, blocker["run_id"], wait=True)
    await client.runs.delete(tid, blocker["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, blocker["run_id"])
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.get(f"/threads/{tid}/runs", params={"status": "sleeping"})
        assert r.status_code == 422 and "status" in r.json()["detail"]
        r = await http.get(f"/threads/{tid}/runs", params={"limit": "-1"})
        assert r.status_code == 422 and "limit" in r.json()["detail"]


async def test_checkpoint_id_forks_from_an_earlier_checkpoint(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "t"})
    history = await client.threads.get_history(tid)
    after_step0 = next(s for s in history if s["values"].get("messages") == ["t:0"])
    cid = after_step0["checkpoint"]["checkpoint_id"]
    # replay from there: only the remaining steps run again
    replay = await client.runs.wait(tid, "steps", input=None, checkpoint_id=cid)
    assert replay["messages"] == ["t:0", "t:1", "t:2"]
    # fork with new input from there: the later steps of the first run are not in the branch
    fork = await client.runs.wait(tid, "steps", input={"tag": "f"}, checkpoint={"checkpoint_id": cid})
    assert fork["messages"] == ["t:0", "f:0", "f:1", "f:2"]
    assert (await client.threads.get_state(tid))["values"]["messages"] == ["t:0", "f:0", "f:1", "f:2"]


async def test_interrupt_before_and_after(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    values = await client.runs.wait(tid, "steps", input={"tag": "i"}, interrupt_after=["step0"])
    assert values["messages"] == ["i:0"]
    assert (await client.threads.get(tid))["status"] == "interrupted"
    assert (await client.threads.get_state(tid))["next"] == ["step1"]
    values = await client.runs.wait(tid, "steps", input=None, interrupt_before=["step2"])
    assert values["messages"] == ["i:0", "i:1"]
    assert (await client.threads.get_state(tid))["next"] == ["step2"]
    values = await client.runs.wait(tid, "steps", input=None)
    assert values["messages"] == ["i:0", "i:1", "i:2"]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_command_update_and_goto(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"tag": "a"})
    values = await client.runs.wait(tid, "steps", command={"update": {"tag": "z"}, "goto": "step2"})
    assert values["messages"] == ["a:0", "a:1", "a:2", "z:2"]


async def test_after_seconds_delays_start_and_obeys_strategy_when_due(client, system):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    delayed = await client.runs.create(tid, "one", input={"tag": "d"}, after_seconds=0.2)
    assert delayed["status"] == "pending" and delayed["kwargs"]["config"]["configurable"]["__after_seconds__"] == 0.2
    assert (await client.runs.join(tid, delayed["run_id"]))["messages"] == ["d:0"]
    blocker = await client.runs.create(tid, "steps", input={"tag": "b", "delay": 5})
    rejected = await client.runs.create(tid, "one", input={"tag": "r"}, after_seconds=0.1, multitask_strategy="reject")
    wait_until(lambda: system.storage.get_run(rejected["run_id"]).status == "error")
    assert (await client.runs.get(tid, blocker["run_id"]))["status"] == "running"
    await client.runs.cancel(tid, blocker["run_id"], wait=True)


async def test_if_not_exists_create_and_reject(client):
    tid = "0192a3b4-0000-7000-8000-000000000001"
    with pytest.raises(NotFoundError):
        await client.runs.create(tid, "one", input={"tag": "n"})
    run = await client.runs.create(tid, "one", input={"tag": "n"}, if_not_exists="create")
    assert (await client.runs.join(tid, run["run_id"]))["messages"] == ["n:0"]


async def test_metadata_and_durability(client):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "steps", input={"tag": "m"}, metadata={"who": "me"}, durability="exit")
    assert run["metadata"]["who"] == "me" and run["metadata"]["graph_id"] == "steps"
    await client.runs.join(tid, run["run_id"])
    history = await client.threads.get_history(tid)
    assert history[0]["values"]["messages"] == ["m:0", "m:1", "m:2"]
    assert history[0]["metadata"]["who"] == "me"
    # durability=exit: only the final checkpoint (plus the input one) is written
    assert len(history) < 5
    full = await client.threads.create()
    await client.runs.wait(full["thread_id"], "steps", input={"tag": "f"}, checkpoint_during=True)
    assert len(await client.threads.get_history(full["thread_id"])) == 5
    short = await client.threads.create()
    await client.runs.wait(short["thread_id"], "steps", input={"tag": "s"}, checkpoint_during=False)
    assert len(await client.threads.get_history(short["thread_id"])) == len(history)


class WebhookReceiver:
    """A real HTTP server that records the webhooks it gets; the first `fail` answers are 500."""

    def __init__(self, fail: int = 0) -> None:
        self.received: list[dict] = []
        self.attempts = 0
        self.fail = fail
        self.lock = threading.Lock()

        async def hook(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                self.attempts += 1
                if self.attempts <= self.fail:
                    return Response(status_code=500)
                self.received.append(body)
            return Response(status_code=200)

        self.server = LiveServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))




@pytest.fixture
def receiver():
    hook = WebhookReceiver(fail=1)
    with hook.server:
        yield hook


async def test_webhook_delivered_after_retry(client, receiver):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    url = f"{receiver.server.url}/hook"
    run = await client.runs.create(tid, "one", input={"tag": "wh"}, webhook=url)
    await client.runs.join(tid, run["run_id"])
    wait_until(lambda: len(receiver.received) == 1)
    body = receiver.received[0]
    assert body["run_id"] == run["run_id"] and body["status"] == "success"
    assert body["values"]["messages"] == ["wh:0"]
    assert receiver.attempts == 2


async def test_webhook_to_dead_url_does_not_block_the_thread(client, system):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    dead = "http://127.0.0.1:9/hook"  # discard port: connection refused
    first = await client.runs.create(tid, "one", input={"tag": "x"}, webhook=dead)
    second = await client.runs.create(tid, "one", input={"tag": "y"})
    assert (await client.runs.join(tid, second["run_id"]))["messages"] == ["x:0", "y:0"]
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "success"


async def test_webhook_bad_url(client, live_server):
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        thread = await client.threads.create()
        r = await http.post(f"/threads/{thread['thread_id']}/runs", json={"assistant_id": "one", "webhook": "ftp://x"})
        assert r.status_code == 422 and "webhook" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/threads/{t}/runs", {}, "assistant_id"),
        ("/threads/{t}/runs", {"assistant_id": "one", "input": {}, "config": 1}, "config"),
        ("/threads/{t}/runs", {"assistant_id": "one", "interrupt_before": "step0"}, "interrupt_before"),
        ("/threads/{t}/runs", {"assistant_id": "one", "after_seconds": -1}, "after_seconds"),
        ("/threads/{t}/runs", {"assistant_id": "one", "durability": "forever"}, "durability"),
        ("/threads/{t}/runs", {"assistant_id": "one", "if_not_exists": "maybe"}, "if_not_exists"),
        ("/threads/{t}/runs", {"assistant_id": "one", "checkpoint": "abc"}, "checkpoint"),
        ("/threads/{t}/runs/wait", {"assistant_id": "one", "multitask_strategy": "queue"}, "multitask_strategy"),
        ("/threads/{t}/runs/stream", {"assistant_id": "one", "on_disconnect": "hang"}, "on_disconnect"),
        ("/runs", {"assistant_id": "one", "webhook": "not a url"}, "webhook"),
        ("/runs/batch", [{"assistant_id": "one", "thread_id": "x"}], "[0].thread_id"),
    ],
)
async def test_bad_run_field_is_named(client, live_server, path, body, field):
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        r = await http.post(path.format(t=thread["thread_id"]), json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


async def test_webhook_of_a_stateless_run_is_sent_before_its_thread_goes(client, receiver, system):
    values = await client.runs.wait(None, "one", input={"tag": "sl"}, webhook=f"{receiver.server.url}/hook")
    assert values["messages"] == ["sl:0"]
    wait_until(lambda: len(receiver.received) == 1)
    body = receiver.received[0]
    assert body["status"] == "success" and body["values"] == values
    assert body["kwargs"]["temporary"] is True  # the run as the API sends it: a stateless run deleted at the end
    wait_until(lambda: system.storage.get_thread(body["thread_id"]) is None)


async def test_a_run_without_context_gets_the_context_schemas_defaults(client):
    # as the reference: `runtime.context` is the schema built from its defaults, not None
    result = await client.runs.wait(None, "echo", input={"tag": "x"})
    assert result["messages"] == ["model=default", "answer=None"]
    given = await client.runs.wait(None, "echo", input={"tag": "x"}, context={"model": "small"})
    assert given["messages"] == ["model=small", "answer=None"]


async def test_a_run_with_both_configurable_and_context_is_400_as_on_the_reference(client, live_server):
    body = {"assistant_id": "echo", "input": {}, "config": {"configurable": {"answer": 1}}, "context": {"model": "x"}}
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        for path in ("/runs/wait", "/runs/stream", "/runs"):
            response = await http.post(path, json=body)
            assert response.status_code == 400, path
            assert "Cannot specify both configurable and context" in response.json()["detail"]
        assert (await http.post("/runs/batch", json=[body])).status_code == 400
        # either one alone is fine
        ok = await http.post("/runs/wait", json={**body, "context": None})
        assert ok.status_code == 200
