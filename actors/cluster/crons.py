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

log = logging.getLogger("switchboard.cluster")

CRON_LOCK = 0x5377_4372  # "SwCr"


class CronLeader:
    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.Lock()

    def leads(self) -> bool:
        """Whether this process fires crons now (taking the lock if nobody holds it)."""
        with self._mutex:
            try:
                if self._conn is not None and not self._conn.closed:
                    self._conn.execute("SELECT 1")  # the session, and with it the lock, still there
                    return True
            except psycopg.Error:
                self._drop()
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                held = conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (CRON_LOCK,)
                ).fetchone()
            except psycopg.Error as exc:
                log.warning("cluster: cron leadership unknown (%s): not firing", exc)
                return False
            if held and held[0]:
                self._conn = conn
                log.info("cluster: this process fires the crons")
                return True
            conn.close()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def close(self) -> None:
        with self._mutex:
            self._drop()


def create_run_at(owner_url: str, thread_id: str, assistant_id: str, options: dict[str, Any]) -> None:
    """Ask the thread's owner to create the run (a cron fired by the leader on a peer's thread)."""
    from server.forwarding import HOP  # the hop header: the owner serves it, never forwards it on

    body = {"assistant_id": assistant_id, **options}
    response = httpx.post(f"{owner_url}/threads/{thread_id}/runs", json=body, headers={HOP.decode(): "1"}, timeout=10)
    if response.status_code >= 400:
        log.info("cron run on thread %s not created by its owner: %s %s", thread_id, response.status_code, response.text)
