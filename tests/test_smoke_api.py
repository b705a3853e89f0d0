"""A first end-to-end check: the real SDK against a real uvicorn."""


async def test_create_join_over_http(client):
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "one", input={"tag": "h"})
    state = await client.runs.join(thread["thread_id"], run["run_id"])
    assert state["messages"] == ["h:0"]
    assert (await client.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"
