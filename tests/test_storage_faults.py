"""Storage faults in-process: the guarded record table (actors/storage/health.py) and the thread
actor's repair (actors/thread.py). Faults are injected at the storage edge - a record table that
raises what SQLite raises when the disk fails - around the real memory table; everything above it
(storage, actors, graphs) is real. tests/test_faults_*.py do the same against real PostgreSQL and
SQLite servers and disks."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import operator
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore
from psycopg_pool import PoolTimeout

from actors import ActorSystem, Settings
from actors.errors import DatabaseUnavailable
from actors.storage import RecordStorage
from actors.storage.health import GuardedTable, StorageHealth, is_transient, patience, ping_by_writing
from actors.storage.memory import MemoryTable, RollbackableMemorySaver
from tests.conftest import wait_until


class FlakyTable:
    """The memory table, failing on demand: `failing(method, kind)` returns the error to raise."""

    def __init__(self) -> None:
        self.table = MemoryTable()
        self.failing: Any = lambda method, kind: None
        self.calls = 0

    def down(self, error: Exception | None = None) -> None:
        error = error or sqlite3.OperationalError("disk I/O error")
        self.failing = lambda method, kind: error

    def up(self, health: StorageHealth | None = None) -> None:
        """The database answers again (and, given its health, wait until the prober has seen it)."""
        self.failing = lambda method, kind: None
        if health is not None:
            assert health.wait_up(10)

    def close(self) -> None:
        self.table.close()

    def batch(self, writes: Any) -> Any:
        """A batch fails if any of its writes would (then none of them is done)."""
        self.calls += 1
        for method, args in writes:
            error = self.failing(method, args[0])
            if error is not None:
                raise error
        return self.table.batch(writes)

    def __getattr__(self, method: str) -> Any:
        real = getattr(self.table, method)

        def call(kind: str, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            error = self.failing(method, kind)
            if error is not None:
                raise error
            return real(kind, *args, **kwargs)

        return call


def guarded(*, gate_reads: bool = True) -> tuple[FlakyTable, GuardedTable]:
    flaky = FlakyTable()
    health = StorageHealth(ping_by_writing(flaky), gate_reads=gate_reads, first_backoff=0.005, max_backoff=0.02)  # type: ignore[arg-type]
    return flaky, GuardedTable(flaky, health)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error, transient",
    [
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (PoolTimeout("couldn't get a connection after 3.00 sec"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("attempt to write a readonly database"), True),
        (sqlite3.OperationalError("no such table: records"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (ValueError("bad"), False),
    ],
)
def test_transient_errors_are_told_from_bugs(error, transient):
    assert is_transient(error) is transient


def test_while_down_calls_fail_fast_and_the_prober_brings_storage_back():
    flaky, table = guarded()
    table.upsert("thread", "t1", b"{}", None, None)
    flaky.down()
    with pytest.raises(DatabaseUnavailable, match="disk I/O error"):
        table.get("thread", "t1")
    assert not table.health.up
    calls = flaky.calls
    for _ in range(5):
        with pytest.raises(DatabaseUnavailable):
            table.upsert("thread", "t2", b"{}", None, None)
    probes = flaky.calls - calls
    assert probes <= 3, "while down, calls must not reach the database (only the prober does)"
    flaky.up()
    assert table.health.wait_up(5)
    assert table.get("thread", "t1") == b"{}"


def test_patience_waits_for_the_database_to_come_back():
    flaky, table = guarded()
    flaky.down()
    results: list[Any] = []
    started = threading.Event()

    def actor_call() -> None:
        with patience(30):
            started.set()
            results.append(table.upsert("run", "r1", b"{}", "t1", "pending"))

    caller = threading.Thread(target=actor_call)
    caller.start()
    started.wait(5)
    wait_until(lambda: not table.health.up)
    assert caller.is_alive() and not results  # waiting, not failed
    flaky.up()
    caller.join(10)
    assert results == [None] and table.get("run", "r1") == b"{}"


def test_patience_runs_out_with_database_unavailable():
    flaky, table = guarded()
    flaky.down()
    with patience(0.05), pytest.raises(DatabaseUnavailable):
        table.get("thread", "t1")


def test_bugs_are_not_retried_and_do_not_take_storage_down():
    flaky, table = guarded()
    flaky.down(sqlite3.IntegrityError("UNIQUE constraint failed"))
    with patience(5), pytest.raises(sqlite3.IntegrityError):
        table.insert("thread", "t1", b"{}", None, None)
    assert table.health.up and flaky.calls == 1


def test_reads_pass_when_only_writes_fail():
    """SQLite on a full disk: reads still work, only writes are refused."""
    flaky, table = guarded(gate_reads=False)
    table.upsert("thread", "t1", b"{}", None, None)
    flaky.failing = lambda method, kind: sqlite3.OperationalError("database or disk is full") if method != "get" and method != "scan" else None
    with pytest.raises(DatabaseUnavailable, match="disk is full"):
        table.upsert("thread", "t2", b"{}", None, None)
    assert table.get("thread", "t1") == b"{}"
    assert table.scan("thread") == [b"{}"]
    assert table.health.refuses(write=True) and not table.health.refuses(write=False)


# --- the thread actor ------------------------------------------------------------------------------


class State(TypedDict):
    done: Annotated[list[str], operator.add]


GATE = threading.Event()


async def held(state: State) -> dict[str, Any]:
    """A step that finishes when the test opens the gate."""
    await asyncio.to_thread(GATE.wait, 30)
    return {"done": ["held"]}


def held_graph():
    builder = StateGraph(State)
    builder.add_node("held", held)
    builder.add_edge(START, "held")
    builder.add_edge("held", END)
    return builder.compile()


class FlakyStorage(RecordStorage):
    def __init__(self) -> None:
        self.flaky = FlakyTable()
        checkpointer = RollbackableMemorySaver()
        health = StorageHealth(ping_by_writing(self.flaky), first_backoff=0.005, max_backoff=0.02)  # type: ignore[arg-type]
        super().__init__(GuardedTable(self.flaky, health), checkpointer, InMemoryStore(), checkpointer)  # type: ignore[arg-type]


@pytest.fixture
def flaky_system():
    GATE.clear()
    storage = FlakyStorage()
    with ActorSystem({"held": held_graph()}, settings=Settings(storage_patience=0.2), storage=storage) as system:
        yield system, storage.flaky
    GATE.set()


def test_an_outage_longer_than_patience_does_not_wedge_the_thread(flaky_system):
    system, flaky = flaky_system
    tid = system.threads.create()["thread_id"]
    run = system.runs.create(tid, "held", input={"done": []})
    wait_until(lambda: system.runs.get(tid, run["run_id"])["status"] == "running")
    flaky.down()
    GATE.set()  # the run ends while its end cannot be written, for longer than the actor waits
    with pytest.raises(DatabaseUnavailable):
        system.threads.get(tid)
    wait_until(lambda: flaky.calls > 50, timeout=10)  # the actor gave up and keeps repairing
    flaky.up(system.storage.health)
    # Once the database is back the run's end is recorded, with its real outcome...
    assert system.runs.join(tid, run["run_id"]) == {"done": ["held"]}
    assert system.runs.get(tid, run["run_id"])["status"] == "success"
    wait_until(lambda: system.threads.get(tid)["status"] == "idle")
    # ...and the thread takes the next run.
    nxt = system.runs.wait(tid, "held", input={"done": []})
    assert nxt == {"done": ["held", "held"]}


def test_a_lost_end_leaves_the_run_error_and_the_thread_usable(flaky_system):
    """A run whose end cannot be handled at all (not a database outage) still ends, `error`."""
    system, flaky = flaky_system
    tid = system.threads.create()["thread_id"]
    run = system.runs.create(tid, "held", input={"done": []})
    wait_until(lambda: system.runs.get(tid, run["run_id"])["status"] == "running")
    broken = {"once": True}

    def fail_once(method: str, kind: str) -> Exception | None:
        if method in ("update", "upsert") and kind == "thread" and broken.pop("once", False):
            return RuntimeError("a bug while recording the run's end")
        return None

    flaky.failing = fail_once
    GATE.set()
    output = system.runs.join(tid, run["run_id"])
    assert output["__error__"]["error"] == "StorageUnavailable"
    assert "start a new run" in output["__error__"]["message"]
    assert system.runs.get(tid, run["run_id"])["status"] == "error"
    wait_until(lambda: system.threads.get(tid)["status"] in ("idle", "error"))
    assert system.runs.wait(tid, "held", input={"done": []})["done"][-1] == "held"
    assert system.threads.get(tid)["status"] == "idle"


def test_runs_accepted_before_an_outage_run_after_it(flaky_system):
    system, flaky = flaky_system
    tid = system.threads.create()["thread_id"]
    first = system.runs.create(tid, "held", input={"done": []})
    queued = system.runs.create(tid, "held", input={"done": []}, multitask_strategy="enqueue")
    wait_until(lambda: system.runs.get(tid, first["run_id"])["status"] == "running")
    flaky.down(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
    GATE.set()
    wait_until(lambda: flaky.calls > 50, timeout=10)
    flaky.up(system.storage.health)
    assert system.runs.join(tid, queued["run_id"]) == {"done": ["held", "held"]}
    assert [system.runs.get(tid, r["run_id"])["status"] for r in (first, queued)] == ["success", "success"]


# --- over HTTP ---------------------------------------------------------------------------------------


def test_http_answers_503_with_retry_after_while_down_and_ok_reports_it(flaky_system):
    import httpx

    from server.app import create_app
    from tests.conftest import LiveServer

    system, flaky = flaky_system
    with LiveServer(create_app(system, own_system=False)) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/ok").json() == {"ok": True, "services": {"database": "skipped"}}
        assert http.get("/ok", params={"check_db": 1}).json() == {"ok": True, "services": {"database": "healthy"}}
        assert http.get("/ok", params={"check_db": 2}).status_code == 422
        tid = http.post("/threads", json={}).json()["thread_id"]
        flaky.down(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
        first = http.post("/threads", json={})  # finds the database away
        assert first.status_code == 503 and first.headers["Retry-After"] == "2"
        assert "AdminShutdown" in first.json()["detail"]
        for response in (http.get(f"/threads/{tid}"), http.post(f"/threads/{tid}/runs", json={"assistant_id": "held"})):
            assert response.status_code == 503 and response.headers["Retry-After"] == "2"
        ok = http.get("/ok")
        assert ok.status_code == 503 and ok.json()["services"] == {"database": "unhealthy"} and ok.json()["ok"] is False
        flaky.up(system.storage.health)
        assert http.get("/ok").status_code == 200
        assert http.get(f"/threads/{tid}").status_code == 200


def test_ok_on_memory_storage_has_the_reference_shape(live_server):
    import httpx

    response = httpx.get(f"{live_server.url}/ok")
    if response.json()["services"]:  # the suite runs on SQLite / PostgreSQL too (.ci/run)
        assert response.json() == {"ok": True, "services": {"database": "skipped"}}
    else:
        assert response.json() == {"ok": True, "services": {}}
