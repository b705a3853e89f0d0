"""Membership: who is in the cluster and until when. Each process has a row in `cluster_members`
whose `lease_until` its heartbeat pushes forward every `lease / 3` - in database time, so no two
processes' clocks are ever compared. A process whose lease has lapsed is dead to the others: its
threads may be taken over. A process that finds its own row lapsed or gone (it was paused, or cut
off from the database, for longer than its lease) was declared dead: `on_lapsed` is called (stop
the thread actors without writing; their writes are fenced anyway) and it registers again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger("switchboard.cluster")


class Membership:
    def __init__(
        self,
        pool: Any,
        advertise_url: str,
        lease: float,
        *,
        process_id: uuid.UUID | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.process_id = process_id or uuid.uuid4()
        self.advertise_url = advertise_url
        self.lease = lease
        self.clock = clock
        self.on_lapsed: Callable[[], None] = lambda: None
        self.writer_pid: Callable[[], int | None] = lambda: None
        """The backend pid of this process's writer connection (see schema.py)."""
        self.live_until = 0.0
        """Local (monotonic) time before which this process's lease is surely live: the moment the
        last successful heartbeat was sent, plus the lease. Serving a thread locally needs it."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self) -> None:
        sent = self.clock()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO cluster_members (process_id, advertise_url, lease_until, writer_pid) "
                "VALUES (%s, %s, now() + make_interval(secs => %s), %s) ON CONFLICT (process_id) DO UPDATE "
                "SET advertise_url = excluded.advertise_url, lease_until = excluded.lease_until, "
                "writer_pid = excluded.writer_pid",
                (self.process_id, self.advertise_url, self.lease, self.writer_pid()),
            )
        self.live_until = sent + self.lease

    def heartbeat(self) -> bool:
        """Extend the lease; False (after `on_lapsed` and registering again) if it had lapsed."""
        sent = self.clock()
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE cluster_members SET lease_until = now() + make_interval(secs => %s), writer_pid = %s "
                "WHERE process_id = %s AND lease_until > now() RETURNING 1",
                (self.lease, self.writer_pid(), self.process_id),
            ).fetchone()
        if row is not None:
            self.live_until = sent + self.lease
            return True
        self.live_until = 0.0
        log.error("cluster: this process's lease had lapsed (paused or cut off too long): its threads are given up")
        try:
            self.on_lapsed()
        finally:
            # A new identity: whatever the old one owned is nobody's now, so no stale fence matches.
            old, self.process_id = self.process_id, uuid.uuid4()
            with self.pool.connection() as conn:
                conn.execute("DELETE FROM cluster_members WHERE process_id = %s", (old,))
            self.register()
        return False

    def live(self) -> bool:
        """Whether this process's lease is surely live now (local margin: a quarter lease)."""
        return self.clock() < self.live_until - self.lease / 4

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="switchboard-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                self.heartbeat()
            except Exception:  # noqa: BLE001 - the database is away: try again next beat
                log.warning("cluster: heartbeat failed", exc_info=True)

    def leave(self) -> None:
        """Stop the heartbeat and delete the row: peers may take over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.live_until = 0.0
        try:
            with self.pool.connection() as conn:
                conn.execute("DELETE FROM cluster_members WHERE process_id = %s", (self.process_id,))
        except Exception:  # noqa: BLE001 - on the way out; the lease lapses anyway
            log.warning("cluster: could not delete this process's membership row", exc_info=True)

    def peers(self) -> dict[uuid.UUID, str]:
        """The live members but this one: process id -> advertise URL."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT process_id, advertise_url FROM cluster_members WHERE lease_until > now() AND process_id <> %s",
                (self.process_id,),
            ).fetchall()
        return {row[0]: row[1] for row in rows}
