"""Fencing of PostgreSQL writes in cluster mode (actors/cluster/fencing.py, postgres_writer.py): once
another process has taken a thread over, a write of the old owner - a run record, a status, a
checkpoint - is refused in its own transaction and nothing of it lands; other threads' writes in the
same group-commit batch are not affected."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from psycopg_pool import ConnectionPool

from actors.cluster.fencing import Fencing, writing_for
from actors.cluster.members import Membership
from actors.cluster.ownership import Ownership
from actors.cluster.schema import ensure_schema
from actors.errors import Fenced
from actors.kernel.runtime import GraphLoop
from actors.models import Run, Thread
from actors.storage.postgres import PostgresStorage
from tests.backends import postgres_schema


class Process:
    """One cluster member's storage, membership, ownership and fences (as a ClusterNode wires them)."""

    def __init__(self, url: str, pool: ConnectionPool, runtime: GraphLoop, name: str) -> None:
        self.storage = PostgresStorage(url, runtime, pool_size=2, exclusive=False)
        self.membership = Membership(pool, f"http://{name}", 30.0)
        self.membership.register()
        self.ownership = Ownership(pool, self.membership)
        self.fencing = Fencing(self.ownership)
        self.storage.writer.fencing = self.fencing


@pytest.fixture
def cluster() -> Iterator[tuple[Process, Process, ConnectionPool, GraphLoop]]:
    with postgres_schema() as url:
        pool = ConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=True)
        with pool.connection() as conn:
            ensure_schema(conn)
        runtime = GraphLoop(4)
        a, b = Process(url, pool, runtime, "a"), Process(url, pool, runtime, "b")
        try:
            yield a, b, pool, runtime
        finally:
            for process in (a, b):
                runtime.call(process.storage.aclose())
                process.storage.close()
            runtime.stop()
            pool.close()


def lapse(pool: ConnectionPool, membership: Membership) -> None:
    with pool.connection() as conn:
        conn.execute("UPDATE cluster_members SET lease_until = now() - interval '1 second' WHERE process_id = %s",
                     (membership.process_id,))


def new_run(thread_id: str) -> Run:
    return Run(run_id=str(uuid.uuid4()), thread_id=thread_id, assistant_id=str(uuid.uuid4()))


def checkpoint_config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}


def put_checkpoint(process: Process, runtime: GraphLoop, thread_id: str) -> Any:
    checkpoint = empty_checkpoint()
    return runtime.call(process.storage.checkpointer.aput(checkpoint_config(thread_id), checkpoint, {"step": 1}, {}))


def test_the_owner_writes_and_a_stale_owner_writes_nothing(cluster: Any) -> None:
    a, b, pool, runtime = cluster
    a.storage.create_thread(Thread(thread_id="t"))  # a new thread belongs to nobody yet: not fenced
    assert a.ownership.acquire("t").epoch == 1
    first = new_run("t")
    with writing_for("t"):
        a.storage.put_run(first)
    put_checkpoint(a, runtime, "t")
    assert a.storage.get_run(first.run_id) is not None

    lapse(pool, a.membership)  # a stops heartbeating; b takes the thread over (epoch 2)
    assert b.ownership.acquire("t").epoch == 2
    assert a.ownership.epoch("t") == 1  # a has not noticed: its fence is stale

    late = new_run("t")
    with writing_for("t"), pytest.raises(Fenced):
        a.storage.put_run(late)
    with writing_for("t"), pytest.raises(Fenced):
        a.storage.update_run(first.run_id, status="error")
    with writing_for("t"), pytest.raises(Fenced):
        a.storage.update_thread("t", status="busy")
    before = runtime.call(b.storage.checkpointer.aget_tuple(checkpoint_config("t")))
    with pytest.raises(Fenced):
        put_checkpoint(a, runtime, "t")
    assert a.storage.get_run(late.run_id) is None
    assert a.storage.get_run(first.run_id).status == "pending"
    assert a.storage.get_thread("t").status == "idle"
    after = runtime.call(b.storage.checkpointer.aget_tuple(checkpoint_config("t")))
    assert after.checkpoint["id"] == before.checkpoint["id"]
    assert a.fencing.refused == 4

    with writing_for("t"):  # the new owner writes
        b.storage.update_run(first.run_id, status="error")
    put_checkpoint(b, runtime, "t")
    assert b.storage.get_run(first.run_id).status == "error"


def test_a_refused_write_fails_alone_in_its_batch(cluster: Any) -> None:
    a, b, pool, runtime = cluster
    for thread_id in ("mine", "lost"):
        a.storage.create_thread(Thread(thread_id=thread_id))
        a.ownership.acquire(thread_id)
    with pool.connection() as conn:  # "lost" changes hands behind a's back (as a takeover would)
        conn.execute("UPDATE thread_owners SET process_id = %s, epoch = epoch + 1 WHERE thread_id = 'lost'",
                     (b.membership.process_id,))

    def write(i: int) -> str:
        thread_id = "lost" if i % 10 == 0 else "mine"
        with writing_for(thread_id):
            try:
                a.storage.put_run(new_run(thread_id))
            except Fenced:
                return "fenced"
        return "written"

    with concurrent.futures.ThreadPoolExecutor(16) as executor:  # many writes share batches
        results = list(executor.map(write, range(200)))
    assert results.count("fenced") == 20
    assert len(a.storage.list_runs("mine")) == 180
    assert a.storage.list_runs("lost") == []


def test_an_actor_of_a_thread_this_process_never_held_is_refused_without_a_round_trip(cluster: Any) -> None:
    a, _b, _pool, _runtime = cluster
    a.storage.create_thread(Thread(thread_id="t"))
    with writing_for("t"), pytest.raises(Fenced):
        a.storage.put_run(new_run("t"))
    assert a.storage.list_runs("t") == []


def test_a_checkpoint_of_a_thread_nobody_owns_is_written(cluster: Any) -> None:
    """A copy's new thread: written by whichever process copies, before anyone owns it."""
    a, b, _pool, runtime = cluster
    put_checkpoint(a, runtime, "copy")
    assert runtime.call(a.storage.checkpointer.aget_tuple(checkpoint_config("copy"))) is not None
    b.ownership.acquire("copy")
    with pytest.raises(Fenced):  # once another owns it, a (holding no fence) may not
        put_checkpoint(a, runtime, "copy")
