"""`POST .../cancel?wait=true` answers as the reference does: with what a join would return (the
thread's values after the cancelled run), once the run has stopped; without `wait` it is `202`."""

from __future__ import annotations

import asyncio

import httpx

from tests.api_support import system  # noqa: F401 - fixture


async def _running(client, tid: str, run_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await client.runs.get(tid, run_id))["status"] != "running":
        assert loop.time() < deadline, "the run never started"
        await asyncio.sleep(0.01)


async def test_waited_cancel_answers_the_values_after_the_run(client, live_server):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "steps", input={"tag": "c", "slow_at": 1, "slow_delay": 30}, durability="sync")
    await _running(client, tid, run["run_id"])
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel", params={"wait": "true"})
    assert response.status_code == 200
    assert response.json() == await client.runs.join(tid, run["run_id"])
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"


async def test_cancel_without_wait_is_accepted_with_no_body(client, live_server):
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "steps", input={"tag": "d", "slow_at": 0, "slow_delay": 30})
    await _running(client, tid, run["run_id"])
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        response = await http.post(f"/threads/{tid}/runs/{run['run_id']}/cancel")
    assert (response.status_code, response.content) == (202, b"")
