"""Crons fire once per schedule cluster-wide: only the process holding the cron leader lock (a
PostgreSQL session advisory lock, per schema) fires them. The lock goes with its session: when the
leader dies its connection drops and another process takes the lock at its next scheduler tick
(at most a minute, `crons.MAX_SLEEP`, or at the next due cron). A thread cron whose thread a peer
owns is created there, over HTTP, like any forwarded request."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import psycopg

from .routing import HOP

log = logging.getLogger("switchboard.cluster")

CRON_LOCK = 0x5377_4372  # "SwCr"


class CronLeader:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._mutex = threading.Lock()

    def leads(self) -> bool:
        """Whether this process fires crons now (taking the lock if nobody holds it). One connection,
        kept: a follower asks again on it, the leader's session holds the lock."""
        with self._mutex:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn, self._held = psycopg.connect(self.url, autocommit=True, connect_timeout=3), False
                if self._held:
                    self._conn.execute("SELECT 1")  # the session, and with it the lock, still there
                    return True
                row = self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (CRON_LOCK,)
                ).fetchone()
            except psycopg.Error as exc:
                log.warning("cluster: cron leadership unknown (%s): not firing", exc)
                self._drop()
                return False
            self._held = bool(row and row[0])
            if self._held:
                log.info("cluster: this process fires the crons")
            return self._held

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn, self._held = None, False

    def close(self) -> None:
        with self._mutex:
            self._drop()


def create_run_at(owner_url: str, thread_id: str, assistant_id: str, options: dict[str, Any]) -> None:
    """Ask the thread's owner to create the run (a cron fired by the leader on a peer's thread)."""
    body = {"assistant_id": assistant_id, **options}
    try:  # the hop header: the owner serves it, never forwards it on
        response = httpx.post(f"{owner_url}/threads/{thread_id}/runs", json=body, headers={HOP: "1"}, timeout=10)
    except httpx.HTTPError as exc:  # the owner died meanwhile: this firing is lost, the next one is not
        log.warning("cron run on thread %s not created: its owner did not answer (%s)", thread_id, exc)
        return
    if response.status_code >= 400:
        log.info("cron run on thread %s not created by its owner: %s %s", thread_id, response.status_code, response.text)
