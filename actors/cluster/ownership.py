"""Ownership: which process serves which thread. `thread_owners(thread_id, process_id, epoch)`: a
thread is owned by P iff `process_id = P` and P's member lease is live. `acquire` takes a thread
that has no live owner in one statement (its epoch goes up by one on every change of hands) and
says who owns it otherwise. What this process owns, and at which epoch, is kept in `fences`: every
write of the thread is checked against it in the writing transaction (fencing.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import psycopg

from .members import Membership

log = logging.getLogger("switchboard.cluster")

LIVE_OWNER = (
    "o.process_id IS NOT NULL AND EXISTS (SELECT 1 FROM cluster_members m "
    "WHERE m.process_id = o.process_id AND m.lease_until > now())"
)


LOCK_TIMEOUT_MS = 1000
"""How long `acquire` waits for a thread's row before it checks for a lapsed owner stuck mid-write."""
LOCK_ATTEMPTS = 5

SETTLE_TIMEOUT = 30.0
"""Seconds a request waits for the recovery of a thread just taken over, at most."""


class Owner(msgspec.Struct, frozen=True):
    process_id: uuid.UUID
    epoch: int
    advertise_url: str
    taken: bool = False
    """This call took the thread (from nobody, or from a dead owner): its runs need recovering."""


class Ownership:
    def __init__(self, pool: Any, membership: Membership, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.pool = pool
        self.membership = membership
        self.clock = clock
        self._lock = threading.Lock()
        self.fences: dict[str, int] = {}
        """thread id -> the epoch at which this process owns it."""
        self._touched: dict[str, float] = {}
        self._settling: dict[str, threading.Event] = {}
        """Threads just taken whose recovery (takeover.py) is not done: not served until it is."""

    @property
    def process_id(self) -> uuid.UUID:
        return self.membership.process_id

    def epoch(self, thread_id: str) -> int | None:
        with self._lock:
            return self.fences.get(thread_id)

    def owns(self, thread_id: str, *, wait: bool = True) -> bool:
        """Owned here at some epoch, with this process's lease surely live (no database call). While
        the thread is being recovered after a takeover: waits for that, or (`wait=False`, on an event
        loop) says False."""
        with self._lock:
            if thread_id not in self.fences:
                return False
            self._touched[thread_id] = self.clock()
            settling = self._settling.get(thread_id)
        if settling is not None:
            if not wait:
                return False
            settling.wait(SETTLE_TIMEOUT)
        return self.membership.live()

    def settled(self, thread_id: str) -> None:
        """The recovery of a thread just taken is done: it may be served."""
        with self._lock:
            event = self._settling.pop(thread_id, None)
        if event is not None:
            event.set()

    def acquire(self, thread_id: str) -> Owner:
        """Take the thread if nobody live owns it; return its owner (this process or a live peer)."""
        for _attempt in range(LOCK_ATTEMPTS):
            try:
                return self._acquire(thread_id)
            except psycopg.errors.LockNotAvailable:
                self._end_lapsed_writers(thread_id)
        return self._acquire(thread_id, lock_wait=False)

    def _end_lapsed_writers(self, thread_id: str) -> None:
        """The thread's row is share-locked by a transaction that does not end: its owner was paused
        or cut off mid-write and has lapsed. End that writer's session (its write is rolled back; the
        owner, if it wakes, finds its connection gone and its fences stale)."""
        with self.pool.connection() as conn:
            ended = conn.execute(
                "SELECT pg_terminate_backend(m.writer_pid) FROM cluster_members m JOIN thread_owners o "
                "ON o.process_id = m.process_id WHERE o.thread_id = %s AND m.lease_until <= now() "
                "AND m.writer_pid IS NOT NULL",
                (thread_id,),
            ).fetchall()
        if ended:
            log.warning("cluster: ended the open transaction of the lapsed owner of thread %s", thread_id)

    def _acquire(self, thread_id: str, lock_wait: bool = True) -> Owner:
        me = self.process_id
        with self.pool.connection() as conn, conn.transaction():
            if lock_wait:
                conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
            row = conn.execute(
                "INSERT INTO thread_owners AS o (thread_id, process_id, epoch) VALUES (%s, %s, 1) "
                "ON CONFLICT (thread_id) DO UPDATE SET process_id = excluded.process_id, epoch = o.epoch + 1 "
                f"WHERE NOT ({LIVE_OWNER}) RETURNING o.epoch",
                (thread_id, me),
            ).fetchone()
            if row is not None:
                owner = Owner(me, row[0], self.membership.advertise_url, taken=True)
            else:  # a live owner holds it: maybe this process, at the epoch it holds it
                found = conn.execute(
                    "SELECT o.process_id, o.epoch, m.advertise_url FROM thread_owners o "
                    "JOIN cluster_members m ON m.process_id = o.process_id WHERE o.thread_id = %s",
                    (thread_id,),
                ).fetchone()
                if found is None:  # its owner's row vanished this instant (it left): try again
                    return self._acquire(thread_id, lock_wait)
                owner = Owner(found[0], found[1], found[2])
        if owner.process_id == me:
            self._hold(thread_id, owner.epoch, owner.taken)
        else:
            self._drop([thread_id])
        return owner

    def where(self, thread_id: str) -> Owner | None:
        """The live owner of a thread, without taking it (None: nobody live owns it)."""
        with self.pool.connection() as conn:
            found = conn.execute(
                "SELECT o.process_id, o.epoch, m.advertise_url FROM thread_owners o JOIN cluster_members m "
                "ON m.process_id = o.process_id WHERE o.thread_id = %s AND m.lease_until > now()",
                (thread_id,),
            ).fetchone()
        return None if found is None else Owner(found[0], found[1], found[2])

    def release(self, thread_ids: Iterable[str], *, idle_for: float | None = None) -> list[str]:
        """Give threads up (their epoch is kept: the next owner's is one higher); with `idle_for`,
        only those still untouched for that long."""
        ids = list(thread_ids)
        if idle_for is not None:
            limit = self.clock() - idle_for
            with self._lock:
                ids = [t for t in ids if self._touched.get(t, limit) <= limit]
        if not ids:
            return ids
        self._drop(ids)
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE thread_owners SET process_id = NULL WHERE thread_id = ANY(%s) AND process_id = %s",
                (ids, self.process_id),
            )
        return ids

    def forget(self, thread_ids: list[str]) -> list[str]:
        """Deleted threads: their rows go - only those this process owns at the epoch it holds (a
        row a taker has since changed is the taker's), so `thread_owners` does not keep a row for
        every thread ever served. A new thread with one of these ids starts over at epoch 1: this
        process drops its fences with the rows, so none of its writes for the deleted thread can
        pass for one of the new thread's."""
        with self._lock:
            held = {t: self.fences[t] for t in thread_ids if t in self.fences}
        if not held:
            return []
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM thread_owners o USING unnest(%s::text[], %s::bigint[]) AS d(thread_id, epoch) "
                "WHERE o.thread_id = d.thread_id AND o.epoch = d.epoch AND o.process_id = %s",
                (list(held), list(held.values()), self.process_id),
            )
        self._drop(list(held))
        return list(held)

    def release_all(self) -> None:
        with self._lock:
            self.fences.clear()
            self._touched.clear()
        with self.pool.connection() as conn:
            conn.execute("UPDATE thread_owners SET process_id = NULL WHERE process_id = %s", (self.process_id,))

    def forget_all(self) -> list[str]:
        """This process was declared dead: it owns nothing any more (nothing is written)."""
        with self._lock:
            lost = list(self.fences)
            self.fences.clear()
            self._touched.clear()
        return lost

    def idle(self, older_than: float) -> list[str]:
        """Owned threads not touched (routed to, spawned) for `older_than` seconds."""
        limit = self.clock() - older_than
        with self._lock:
            return [t for t, at in self._touched.items() if at < limit]

    def _hold(self, thread_id: str, epoch: int, taken: bool) -> None:
        with self._lock:
            self.fences[thread_id] = epoch
            self._touched[thread_id] = self.clock()
            if taken:  # the taker recovers it, then calls settled()
                self._settling.setdefault(thread_id, threading.Event())

    def _drop(self, thread_ids: list[str]) -> None:
        with self._lock:
            for thread_id in thread_ids:
                self.fences.pop(thread_id, None)
                self._touched.pop(thread_id, None)
