"""Crons fire once per schedule cluster-wide: only the process holding the cron leader lock (a
PostgreSQL session advisory lock, per schema) fires them. The lock goes with its session: when the
leader dies its connection drops and another process takes the lock at its next scheduler tick
(at most a minute, `crons.MAX_SLEEP`, or at the next due cron). A thread cron whose thread a peer
owns has its run created there, over HTTP, signed as the cron's user (`PeerRuns`, trust.py)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from .routing import HOP
from .trust import PeerTrust

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


class PeerRuns:
    """A cron's run on a thread a peer owns: created by that owner over HTTP, as a local firing
    would create it. The request is signed as the cron's user with the cluster secret (trust.py),
    so the owner serves it without credentials even with an `auth` section, and no client can send
    one. The hop header: the owner serves it, never forwards it on."""

    def __init__(self, trust: PeerTrust, reroute: Callable[[str, str], str | None], *, timeout: float = 10.0) -> None:
        self.trust = trust
        self.reroute = reroute
        """`Router.reroute`: the thread's next owner once the one at a dead URL has lost it."""
        self.timeout = timeout

    def create(self, owner_url: str, thread_id: str, assistant_id: str, user: str, options: dict[str, Any],
               here: Callable[[], Any]) -> None:
        """Ask the owner at `owner_url` to create the run. If it does not answer (nothing reached it:
        it died), one retry, off the scheduler's thread: route again (the thread's next owner, once
        its lease has lapsed) and create it there, or here (`here()`) if this process takes it."""
        body = json.dumps({"assistant_id": assistant_id, **options}).encode()
        if not self._post(owner_url, thread_id, user, body):
            log.warning("cron run on thread %s: routing again (the thread's next owner creates it)", thread_id)
            threading.Thread(
                target=self._retry, args=(owner_url, thread_id, user, body, here), name="switchboard-cron-retry", daemon=True
            ).start()

    def _post(self, url: str, thread_id: str, user: str, body: bytes) -> bool:
        """False only if the request reached no one (so a retry cannot create the run twice)."""
        path = f"/threads/{thread_id}/runs"
        headers = {HOP: "1", "content-type": "application/json", **self.trust.sign("POST", path, user, body)}
        try:
            response = httpx.post(f"{url}{path}", content=body, headers=headers, timeout=self.timeout)
        except httpx.ConnectError as exc:
            log.warning("cron run on thread %s: its owner at %s did not answer (%s)", thread_id, url, exc)
            return False
        except httpx.HTTPError as exc:  # it may have created the run: not sent again, this firing may be lost
            log.warning("cron run on thread %s: no answer from its owner at %s (%s)", thread_id, url, exc)
            return True
        if response.status_code >= 400:
            log.info("cron run on thread %s not created by its owner: %s %s", thread_id, response.status_code, response.text)
        return True

    def _retry(self, dead_url: str, thread_id: str, user: str, body: bytes, here: Callable[[], Any]) -> None:
        try:
            url = self.reroute(thread_id, dead_url)
            if url is None:  # this process took the thread: the run is created as any local firing
                here().add_done_callback(lambda f: _log_refusal(thread_id, f))
            elif not self._post(url, thread_id, user, body):
                log.warning("cron run on thread %s lost: its next owner at %s did not answer either", thread_id, url)
        except Exception as exc:  # noqa: BLE001 - no owner after two leases, the database away: this firing is lost
            log.warning("cron run on thread %s lost: %s", thread_id, exc)


def _log_refusal(thread_id: str, future: Any) -> None:
    exc = future.exception()
    if exc is not None:  # e.g. ThreadBusy under "reject": this firing is skipped, as a local one
        log.info("cron run on thread %s not created: %s", thread_id, exc)
