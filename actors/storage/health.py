"""Storage health: while the database is away, callers fail fast instead of hanging, and the server
notices by itself when it is back.

A backend's record table is wrapped in a `GuardedTable`. A call that fails with a transient error
(PostgreSQL: connection lost, admin shutdown, pool timeout - every `psycopg.OperationalError`;
SQLite: locked, full, read-only, I/O error) marks the storage **down** and raises
`DatabaseUnavailable` (HTTP 503 with `Retry-After`). While it is down, guarded calls fail at once
without touching the database, and one prober thread tries the backend (`ping`: a one-row write)
with backoff until it answers; then the storage is **up** again.

Callers that must not give up at the first failure - thread actors, whose writes record a run's
progress - run under `patience(seconds)`: a call that finds the storage down waits (on an event,
not a poll) for it to come back, up to that long, and is tried again.

SQLite reads keep working on a full or read-only disk, so with `gate_reads=False` only writes are
refused while down (and only writes decide whether it is up).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import DatabaseUnavailable
from .base import StorageUnavailable
from .records import RecordTable, Update, Write

log = logging.getLogger("switchboard.storage")

SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "database or disk is full",
    "disk i/o error",
    "attempt to write a readonly database",
    "unable to open database file",
)

_patience: contextvars.ContextVar[float] = contextvars.ContextVar("storage_patience", default=0.0)


class LockLost(StorageUnavailable):
    """The one-server-per-database lock is held by another process now: this server must not write."""


@contextlib.contextmanager
def patience(seconds: float) -> Iterator[None]:
    """Storage calls made inside wait up to `seconds` for an unavailable database to come back."""
    token = _patience.set(seconds)
    try:
        yield
    finally:
        _patience.reset(token)


def is_transient(exc: BaseException) -> bool:
    """An error that says the database is away for now, not that the request is wrong."""
    if isinstance(exc, (DatabaseUnavailable, LockLost)):
        return True
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.OperationalError):
        return True  # includes AdminShutdown, lost connections and psycopg_pool.PoolTimeout
    if isinstance(exc, sqlite3.OperationalError):
        return str(exc).lower().startswith(SQLITE_TRANSIENT)
    return False


class StorageHealth:
    """Up or down, with a prober that brings it back up. `clock` and `sleep` are injectable."""

    retry_after = 2
    """Seconds clients are told to wait (the `Retry-After` of a 503)."""

    def __init__(
        self,
        ping: Callable[[], None],
        *,
        gate_reads: bool = True,
        clock: Callable[[], float] = time.monotonic,
        first_backoff: float = 0.05,
        max_backoff: float = 1.0,
    ) -> None:
        self._ping = ping
        self.gate_reads = gate_reads
        self.clock = clock
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._prober: threading.Thread | None = None
        self.down_since: float | None = None
        self.last_error: str | None = None
        self.outages = 0

    @property
    def up(self) -> bool:
        return self._up.is_set()

    def refuses(self, write: bool) -> bool:
        """Whether a call of this kind is refused now (without touching the database)."""
        return not self._up.is_set() and (write or self.gate_reads)

    def unavailable(self) -> DatabaseUnavailable:
        reason = self.last_error or "the database is not reachable"
        return DatabaseUnavailable(f"storage unavailable: {reason}. Retry in a moment.", self.retry_after)

    def failed(self, exc: BaseException) -> None:
        """A transient failure was seen: go down (if up) and start probing."""
        with self._lock:
            self.last_error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            if not self._up.is_set():
                return
            self._up.clear()
            self.down_since = self.clock()
            self.outages += 1
            if not self._closed.is_set():
                self._prober = threading.Thread(target=self._probe, name="switchboard-storage-probe", daemon=True)
                self._prober.start()
        log.error("storage is unavailable (%s); refusing requests with 503 until it answers again", self.last_error)

    def wait_up(self, timeout: float) -> bool:
        return self._up.wait(timeout)

    def check_now(self) -> bool:
        """Try the database now (blocking; `/ok?check_db=1`): True if it answered."""
        try:
            self._ping()
        except Exception as exc:  # noqa: BLE001 - any failure of the probe means "not healthy"
            if is_transient(exc):
                self.failed(exc)
            else:
                log.warning("storage health check failed: %s: %s", type(exc).__name__, exc)
            return False
        return self._up.is_set()

    def _probe(self) -> None:
        delay = self.first_backoff
        while not self._closed.wait(delay):
            try:
                self._ping()
            except Exception as exc:  # noqa: BLE001 - still away (or the lock is lost): try again later
                with self._lock:
                    self.last_error = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
                delay = min(delay * 2, self.max_backoff)
                continue
            with self._lock:
                down_for = self.clock() - (self.down_since or self.clock())
                self.down_since, self.last_error = None, None
                self._up.set()
            log.warning("storage is available again after %.1f s", down_for)
            return

    def close(self) -> None:
        self._closed.set()


class GuardedTable:
    """A `RecordTable` whose calls fail fast while the storage is down, turn transient errors into
    `DatabaseUnavailable`, and, under `patience`, wait for the storage to come back."""

    def __init__(self, table: RecordTable, health: StorageHealth, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.table = table
        self.health = health
        self._sleep = sleep

    def _call(self, write: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        health = self.health
        gated = write or health.gate_reads
        deadline: float | None = None
        backoff = health.first_backoff
        while True:
            try:
                if health.refuses(write):
                    raise health.unavailable()
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if gated and not isinstance(exc, DatabaseUnavailable):
                    health.failed(exc)
                if isinstance(exc, DatabaseUnavailable):
                    error = exc
                elif gated:
                    error = health.unavailable()
                else:  # a read that failed without taking the storage down (SQLite locked)
                    error = DatabaseUnavailable(f"storage unavailable: {type(exc).__name__}: {exc}. Retry in a moment.",
                                                health.retry_after)
                budget = _patience.get()
                if deadline is None:
                    deadline = health.clock() + budget
                remaining = deadline - health.clock()
                if remaining <= 0:
                    raise error from (None if exc is error else exc)
                if health.refuses(write):
                    health.wait_up(remaining)
                else:  # a failure that did not take the storage down (a locked SQLite read): back off
                    self._sleep(min(backoff, remaining))
                    backoff = min(backoff * 2, health.max_backoff)

    def insert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> bool:
        return self._call(True, self.table.insert, kind, key, data, parent, status)

    def upsert(self, kind: str, key: str, data: bytes, parent: str | None, status: str | None) -> None:
        self._call(True, self.table.upsert, kind, key, data, parent, status)

    def get(self, kind: str, key: str) -> bytes | None:
        return self._call(False, self.table.get, kind, key)

    def update(self, kind: str, key: str, change: Update) -> bytes | None:
        return self._call(True, self.table.update, kind, key, change)

    def delete(self, kind: str, key: str) -> bool:
        return self._call(True, self.table.delete, kind, key)

    def delete_children(self, kind: str, parent: str) -> int:
        return self._call(True, self.table.delete_children, kind, parent)

    def batch(self, writes: Sequence[Write]) -> list[Any]:
        return self._call(True, self.table.batch, writes)  # all or none: a retry repeats the whole batch

    def scan(
        self, kind: str, *, parent: str | None = None, status: str | None = None, newest_first: bool = False
    ) -> list[bytes]:
        return self._call(False, self.table.scan, kind, parent=parent, status=status, newest_first=newest_first)

    def schema_version(self) -> int:
        return self._call(False, self.table.schema_version)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.health.close()
        self.table.close()


PROBE_KIND = "probe"
"""The record kind of the health probe's one row (no `Storage` method lists it)."""


def ping_by_writing(table: RecordTable) -> Callable[[], None]:
    """A probe that proves the table takes writes: it rewrites one small record."""

    def ping() -> None:
        table.upsert(PROBE_KIND, "health", b"{}", None, None)

    return ping
