"""Cluster membership and thread ownership on a real PostgreSQL schema (actors/cluster/): leases in
database time, acquire / takeover after a lapsed lease with epochs, release, and the fences map."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from actors.cluster.members import Membership
from actors.cluster.ownership import Ownership
from actors.cluster.schema import ensure_schema
from tests.backends import postgres_schema


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with postgres_schema() as url:
        pool = ConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=True)
        with pool.connection() as conn:
            ensure_schema(conn)
            ensure_schema(conn)  # idempotent: every cluster process runs it at start-up
        yield pool
        pool.close()


def member(pool: ConnectionPool, name: str, lease: float = 30.0) -> tuple[Membership, Ownership]:
    membership = Membership(pool, f"http://{name}", lease)
    membership.register()
    return membership, Ownership(pool, membership)


def lapse(pool: ConnectionPool, membership: Membership) -> None:
    """As if the process had stopped heartbeating a lease ago (database time is the only clock)."""
    with pool.connection() as conn:
        conn.execute("UPDATE cluster_members SET lease_until = now() - interval '1 second' WHERE process_id = %s",
                     (membership.process_id,))


def test_acquire_is_exclusive_while_the_owner_lives(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    b, own_b = member(pool, "b")
    first = own_a.acquire("t1")
    assert (first.process_id, first.epoch, first.advertise_url, first.taken) == (a.process_id, 1, "http://a", True)
    own_a.settled("t1")  # the taker has recovered it (takeover.py): requests may be served
    assert own_a.epoch("t1") == 1 and own_a.owns("t1")
    seen = own_b.acquire("t1")  # a lives: b only learns who owns it
    assert (seen.process_id, seen.epoch, seen.advertise_url, seen.taken) == (a.process_id, 1, "http://a", False)
    assert own_b.epoch("t1") is None and not own_b.owns("t1")
    assert own_a.acquire("t1").epoch == 1  # the owner asking again keeps its epoch
    assert own_b.where("t1") == seen


def test_takeover_after_the_lease_lapses_raises_the_epoch(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    b, own_b = member(pool, "b")
    own_a.acquire("t1")
    lapse(pool, a)
    assert own_b.where("t1") is None  # nobody live owns it
    taken = own_b.acquire("t1")
    assert (taken.process_id, taken.epoch) == (b.process_id, 2)
    assert own_b.epoch("t1") == 2
    assert own_a.acquire("t1").process_id == b.process_id  # a cannot take it back while b lives
    assert own_a.epoch("t1") is None  # and forgets its stale fence when it learns


def test_a_short_lease_lapses_by_itself(pool: ConnectionPool) -> None:
    from tests.conftest import wait_until

    a, own_a = member(pool, "a", lease=0.3)  # never heartbeats
    b, own_b = member(pool, "b")
    own_a.acquire("t1")
    wait_until(lambda: own_b.where("t1") is None, timeout=10)
    assert own_b.acquire("t1").epoch == 2


def test_release_keeps_the_epoch_and_lets_a_peer_take_it(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    b, own_b = member(pool, "b")
    own_a.acquire("t1")
    own_a.acquire("t2")
    own_a.release(["t1"])
    assert own_a.epoch("t1") is None and own_a.epoch("t2") == 1
    assert own_b.where("t1") is None
    assert own_b.acquire("t1").epoch == 2
    own_a.release_all()
    assert own_a.fences == {}
    assert own_b.acquire("t2").epoch == 2


def rows(pool: ConnectionPool) -> dict[str, tuple[object, int]]:
    with pool.connection() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT thread_id, process_id, epoch FROM thread_owners")}


def test_forget_deletes_only_the_rows_this_process_owns_at_its_epoch(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    b, own_b = member(pool, "b")
    own_a.acquire("t1")
    own_a.acquire("t2")
    own_b.acquire("t3")
    assert own_a.forget(["t1", "t3", "nowhere"]) == ["t1"]  # t3 is b's: a holds no fence for it
    assert own_a.epoch("t1") is None and set(rows(pool)) == {"t2", "t3"}
    lapse(pool, a)
    assert own_b.acquire("t2").epoch == 2  # taken over while a (paused) still holds its epoch-1 fence
    assert own_a.forget(["t2"]) == ["t2"]  # a drops its fence, but the row is the taker's now
    assert rows(pool)["t2"] == (b.process_id, 2) and own_a.epoch("t2") is None
    assert own_b.acquire("t1").epoch == 1  # a deleted thread's id starts over


def test_leaving_frees_every_thread_at_once(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    b, own_b = member(pool, "b")
    own_a.acquire("t1")
    a.leave()
    assert own_b.acquire("t1").process_id == b.process_id


def test_a_heartbeat_extends_the_lease_and_notices_a_lapse(pool: ConnectionPool) -> None:
    a, own_a = member(pool, "a")
    own_a.acquire("t1")
    assert a.heartbeat() is True
    lost: list[list[str]] = []
    a.on_lapsed = lambda: lost.append(own_a.forget_all())
    old_id = a.process_id
    lapse(pool, a)
    assert a.heartbeat() is False  # declared dead: gives its threads up, comes back as a new member
    assert lost == [["t1"]] and own_a.fences == {}
    assert a.process_id != old_id and a.live()
    with pool.connection() as conn:
        ids = [row[0] for row in conn.execute("SELECT process_id FROM cluster_members")]
    assert ids == [a.process_id]
    taken = own_a.acquire("t1")  # its old incarnation is dead: a new epoch
    assert (taken.process_id, taken.epoch) == (a.process_id, 2)


def test_many_processes_race_for_one_thread_one_wins(pool: ConnectionPool) -> None:
    import concurrent.futures

    owners = [member(pool, f"p{i}") for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as executor:
        results = list(executor.map(lambda o: o[1].acquire("contested"), owners))
    assert len({r.process_id for r in results}) == 1
    assert sum(o.epoch("contested") is not None for _, o in owners) == 1


def test_peers_are_the_live_members(pool: ConnectionPool) -> None:
    a, _ = member(pool, "a")
    b, _ = member(pool, "b")
    c, _ = member(pool, "c")
    lapse(pool, c)
    assert a.peers() == {b.process_id: "http://b"}
    assert isinstance(a.process_id, uuid.UUID)
    with pytest.raises(psycopg.errors.UniqueViolation):  # one row per process
        with pool.connection() as conn:
            conn.execute("INSERT INTO cluster_members VALUES (%s, 'x', now())", (a.process_id,))


def test_a_lapsed_owner_stuck_mid_write_does_not_block_its_taker(pool: ConnectionPool) -> None:
    """An owner paused in the middle of a write transaction holds its fence's share lock; once its
    lease has lapsed, the taker ends that session instead of waiting for the owner to wake."""
    url = pool.conninfo
    stuck = psycopg.connect(url)  # the paused owner's writer: a transaction that never ends
    a, own_a = member(pool, "a")
    a.writer_pid = lambda: stuck.info.backend_pid
    a.register()
    b, own_b = member(pool, "b")
    epoch = own_a.acquire("t1").epoch
    stuck.execute("SELECT switchboard_fence('t1', %s, %s)", (a.process_id, epoch))  # FOR SHARE, left open
    lapse(pool, a)
    taken = own_b.acquire("t1")
    assert (taken.process_id, taken.epoch) == (b.process_id, 2)
    with pytest.raises(psycopg.OperationalError):  # its session was ended: the write is rolled back
        stuck.execute("SELECT 1")
    stuck.close()
