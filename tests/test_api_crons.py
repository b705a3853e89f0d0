"""Crons through the real SDK against a real uvicorn. The scheduler's clock is a manual one: tests
move time to a cron's next date and wake the scheduler (or tick it) instead of waiting minutes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from actors import ActorSystem, Settings, ThreadBusy
from tests.graphs.steps import GRAPHS

YEARLY = "0 0 1 1 *"


class ManualClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 30, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def system(clock) -> Iterator[ActorSystem]:
    with ActorSystem(GRAPHS, settings=Settings(idle_timeout=5.0)) as actor_system:
        actor_system.crons.clock = clock
        actor_system.crons.wake()
        yield actor_system


async def poll(predicate, timeout: float = 10.0):
    """Await `predicate()` (async) until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_create_get_patch_search_count_delete(client, clock):
    cron = await client.crons.create("one", schedule="*/5 * * * *", input={"tag": "c"}, metadata={"team": "x"})
    assert cron["thread_id"] is None
    assert cron["on_run_completed"] == "delete"
    assert cron["enabled"] is True
    assert cron["payload"]["input"] == {"tag": "c"}
    first = parse(cron["next_run_date"])
    assert clock.now < first <= clock.now + timedelta(minutes=5) and first.minute % 5 == 0 and first.second == 0
    assert (await client.crons.search(metadata={"team": "x"}))[0]["cron_id"] == cron["cron_id"]
    assert await client.crons.count(metadata={"team": "x"}) == 1

    async with httpx.AsyncClient(base_url=client.http.client.base_url) as http:
        got = (await http.get(f"/runs/crons/{cron['cron_id']}")).json()
    assert got["cron_id"] == cron["cron_id"] and got["schedule"] == "*/5 * * * *"

    patched = await client.crons.update(cron["cron_id"], schedule="0 * * * *", enabled=False, input={"tag": "p"})
    assert patched["schedule"] == "0 * * * *"
    assert patched["enabled"] is False and parse(patched["next_run_date"]).minute == 0  # kept, as on the reference
    assert patched["payload"]["input"] == {"tag": "p"}
    assert await client.crons.search(metadata={"team": "x"}, enabled=True) == []

    await client.crons.delete(cron["cron_id"])
    assert await client.crons.count(metadata={"team": "x"}) == 0
    with pytest.raises(NotFoundError):
        await client.crons.delete(cron["cron_id"])


async def test_search_filters_sorts_and_selects(client):
    thread = await client.threads.create()
    a = await client.crons.create_for_thread(thread["thread_id"], "one", schedule=YEARLY, metadata={"s": 1})
    b = await client.crons.create("steps", schedule=YEARLY, metadata={"s": 1})
    on_thread = await client.crons.search(thread_id=thread["thread_id"])
    assert [c["cron_id"] for c in on_thread] == [a["cron_id"]]
    by_graph = await client.crons.search(assistant_id="steps", metadata={"s": 1})
    assert [c["cron_id"] for c in by_graph] == [b["cron_id"]]
    ascending = await client.crons.search(metadata={"s": 1}, sort_by="created_at", sort_order="asc")
    assert [c["cron_id"] for c in ascending] == [a["cron_id"], b["cron_id"]]
    selected = await client.crons.search(metadata={"s": 1}, select=["cron_id", "schedule"])
    assert all(set(c) == {"cron_id", "schedule"} for c in selected)
    for cron in (a, b):
        await client.crons.delete(cron["cron_id"])


async def test_search_pages_like_every_other_search(client, live_server):
    """Cron search goes through the shared paging: `X-Pagination-*` headers as the reference's, and
    an unknown `select` field is a 422 whether or not anything matched."""
    made = [await client.crons.create("steps", schedule=YEARLY, metadata={"paged": 1}) for _ in range(3)]
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        first = await http.post("/runs/crons/search", json={"metadata": {"paged": 1}, "limit": 2})
        assert len(first.json()) == 2
        assert first.headers["X-Pagination-Total"] == "3" and first.headers["X-Pagination-Next"] == "2"
        last = await http.post("/runs/crons/search", json={"metadata": {"paged": 1}, "limit": 2, "offset": 2})
        assert len(last.json()) == 1 and last.headers["X-Pagination-Total"] == "3" and "X-Pagination-Next" not in last.headers
        none = await http.post("/runs/crons/search", json={"metadata": {"paged": 2}, "select": ["nope"]})
        assert none.status_code == 422 and "select" in none.json()["detail"]
    for cron in made:
        await client.crons.delete(cron["cron_id"])


async def test_thread_cron_fires_when_the_clock_reaches_its_date(client, system, clock):
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(
        thread["thread_id"], "one", schedule="*/5 * * * *", input={"tag": "cron"}
    )
    due = parse(cron["next_run_date"])
    assert await client.runs.list(thread["thread_id"]) == []

    clock.now = due
    system.crons.wake()
    runs = await poll(lambda: client.runs.list(thread["thread_id"]))
    assert runs[0]["metadata"]["cron_id"] == cron["cron_id"]
    state = await client.runs.join(thread["thread_id"], runs[0]["run_id"])
    assert state["messages"] == ["cron:0"]
    later = await client.crons.search(thread_id=thread["thread_id"])
    assert parse(later[0]["next_run_date"]) == due + timedelta(minutes=5)
    await client.crons.delete(cron["cron_id"])


async def test_cron_on_busy_thread_follows_its_strategy(client, system):
    thread = await client.threads.create()
    tid = thread["thread_id"]
    active = await client.runs.create(tid, "steps", input={"tag": "long", "delay": 0.3})
    await poll(lambda: _status(client, tid, active["run_id"], "running"))

    rejecting = await client.crons.create_for_thread(tid, "one", schedule=YEARLY, multitask_strategy="reject")
    [request] = system.crons.tick(at=parse(rejecting["next_run_date"]))
    with pytest.raises(ThreadBusy):
        await asyncio.wrap_future(request)
    assert len(await client.runs.list(tid)) == 1

    queueing = await client.crons.create_for_thread(tid, "one", schedule=YEARLY, multitask_strategy="enqueue")
    queued = [await asyncio.wrap_future(f) for f in system.crons.tick(at=parse(queueing["next_run_date"]))]
    assert [r.status for r in queued] == ["pending"]
    await client.runs.join(tid, queued[0].run_id)
    assert (await client.runs.get(tid, active["run_id"]))["status"] == "success"
    assert (await client.runs.get(tid, queued[0].run_id))["status"] == "success"
    for cron in (rejecting, queueing):
        await client.crons.delete(cron["cron_id"])


async def _status(client, thread_id, run_id, status):
    return (await client.runs.get(thread_id, run_id))["status"] == status


async def test_stateless_cron_runs_on_a_new_thread_then_deletes_it(client, system):
    cron = await client.crons.create("one", schedule=YEARLY, input={"tag": "s"})
    [request] = system.crons.tick(at=parse(cron["next_run_date"]))
    run = await asyncio.wrap_future(request)
    assert run.metadata["cron_id"] == cron["cron_id"]

    async def thread_gone():
        try:
            await client.threads.get(run.thread_id)
        except NotFoundError:
            return True
        return False

    await poll(thread_gone)
    kept = await client.crons.create("one", schedule=YEARLY, input={"tag": "k"}, on_run_completed="keep")
    [request] = system.crons.tick(at=parse(kept["next_run_date"]))
    run = await asyncio.wrap_future(request)
    assert (await client.runs.join(run.thread_id, run.run_id))["messages"] == ["k:0"]
    assert (await client.threads.get(run.thread_id))["thread_id"] == run.thread_id
    for c in (cron, kept):
        await client.crons.delete(c["cron_id"])


async def test_end_time_stops_the_schedule(client, clock):
    cron = await client.crons.create("one", schedule=YEARLY, end_time=clock.now + timedelta(days=1))
    assert cron["next_run_date"] is None
    await client.crons.delete(cron["cron_id"])


async def test_timezone_shifts_the_schedule(client, clock):
    cron = await client.crons.create("one", schedule="0 9 * * *", timezone="America/New_York")
    assert parse(cron["next_run_date"]).astimezone(timezone.utc).hour == 14  # 09:00 EST
    await client.crons.delete(cron["cron_id"])


async def test_bad_input_and_unknown_ids(client, live_server):
    with pytest.raises(UnprocessableEntityError) as exc:
        await client.crons.create("one", schedule="every day")
    assert "schedule" in exc.value.response.json()["detail"]
    with pytest.raises(UnprocessableEntityError) as exc:
        await client.crons.create("one", schedule=YEARLY, timezone="Mars/Olympus")
    assert "timezone" in exc.value.response.json()["detail"]
    with pytest.raises(UnprocessableEntityError) as exc:
        await client.crons.create("nope", schedule=YEARLY)
    assert "assistant" in exc.value.response.json()["detail"]
    with pytest.raises(NotFoundError):
        await client.crons.create_for_thread("00000000-0000-0000-0000-000000000000", "one", schedule=YEARLY)
    with pytest.raises(NotFoundError):
        await client.crons.update("00000000-0000-0000-0000-000000000000", schedule=YEARLY)
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        missing = await http.post("/runs/crons", json={"assistant_id": "one"})
        assert missing.status_code == 422 and "schedule" in missing.json()["detail"]
        strategy = await http.post("/runs/crons", json={"assistant_id": "one", "schedule": YEARLY, "multitask_strategy": "x"})
        assert strategy.status_code == 422 and "multitask_strategy" in strategy.json()["detail"]
        bad_id = await http.get("/runs/crons/not-a-uuid")
        assert bad_id.status_code == 422 and "cron_id" in bad_id.json()["detail"]
        sort = await http.post("/runs/crons/search", json={"sort_by": "nope"})
        assert sort.status_code == 422 and "sort_by" in sort.json()["detail"]
        select = await http.post("/runs/crons/search", json={"select": ["nope"]})
        assert select.status_code == 422 and "select" in select.json()["detail"]


async def test_missed_firings_run_once_then_the_schedule_goes_on_from_now(client, system):
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "one", schedule="*/5 * * * *", input={"tag": "m"})
    late = parse(cron["next_run_date"]) + timedelta(hours=2, minutes=1)
    requests = system.crons.tick(at=late)
    assert len(requests) == 1
    run = await asyncio.wrap_future(requests[0])
    await client.runs.join(thread["thread_id"], run.run_id)
    assert system.crons.tick(at=late) == []  # nothing due any more at that time
    after = (await client.crons.search(thread_id=thread["thread_id"]))[0]
    following = late.replace(second=0, microsecond=0) + timedelta(minutes=5 - late.minute % 5)
    assert parse(after["next_run_date"]) == following
    await client.crons.delete(cron["cron_id"])


def test_schedule_math():
    from actors.runs.crons import next_fire_time

    at = datetime(2030, 3, 9, 6, 59, 59, tzinfo=timezone.utc)
    assert next_fire_time("0 7 * * *", None, at) == datetime(2030, 3, 9, 7, 0, tzinfo=timezone.utc)
    assert next_fire_time("* * * * * */10", None, at) == datetime(2030, 3, 9, 7, 0, 0, tzinfo=timezone.utc)
    # 9:00 in Paris is 08:00 UTC in winter
    assert next_fire_time("0 9 * * *", "Europe/Paris", at) == datetime(2030, 3, 9, 8, 0, tzinfo=timezone.utc)


async def test_deleting_a_thread_deletes_its_crons(client):
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "one", schedule=YEARLY)
    await client.threads.delete(thread["thread_id"])
    assert await client.crons.search(thread_id=thread["thread_id"]) == []
    with pytest.raises(NotFoundError):
        await client.crons.delete(cron["cron_id"])


async def test_a_crons_payload_is_the_references(client, system):
    thread = await client.threads.create()
    cron = await client.crons.create_for_thread(thread["thread_id"], "one", schedule=YEARLY, input={"tag": "p"},
                                                metadata={"team": "x"}, multitask_strategy="enqueue")
    [one] = await client.assistants.search(graph_id="one")
    assert cron["user_id"] == ""  # no auth: as on the reference
    assert cron["payload"] == {
        "schedule": YEARLY, "input": {"tag": "p"}, "metadata": {"team": "x"}, "multitask_strategy": "enqueue",
        "assistant_id": one["assistant_id"], "config": {"configurable": {"cron_id": cron["cron_id"]}},
    }
    patched = await client.crons.update(cron["cron_id"], schedule="0 0 2 1 *", enabled=False)
    assert patched["payload"]["schedule"] == "0 0 2 1 *" and patched["payload"]["enabled"] is False
    assert patched["payload"]["config"] == {"configurable": {"cron_id": cron["cron_id"]}}
    patched = await client.crons.update(cron["cron_id"], enabled=True)
    [request] = system.crons.tick(at=parse(patched["next_run_date"]))
    run = await asyncio.wrap_future(request)  # the cron's own fields are not run options
    stored = await client.runs.get(thread["thread_id"], run.run_id)
    assert stored["kwargs"]["config"]["configurable"]["cron_id"] == cron["cron_id"]
    assert (await client.runs.join(thread["thread_id"], run.run_id))["messages"] == ["p:0"]
    await client.crons.delete(cron["cron_id"])
