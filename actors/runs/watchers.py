"""Waiting for runs to end (`join`, `wait`, `cancel?wait=1`) without polling.

The thread actor records a run's terminal status and output, then wakes its waiters; a joiner
registers first, then reads the status: no end can slip between the two, and no lock is held
across a storage call (a slow database would otherwise stall every joiner behind one write).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ..errors import NotFound
from ..models import TERMINAL_RUN_STATUSES, Run
from ..storage import Storage


class RunWatchers:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.lock = threading.Lock()  # guards the waiter lists only; never held across storage calls
        self._waiters: dict[str, list[concurrent.futures.Future[Any]]] = defaultdict(list)

    def watch(self, run_id: str) -> concurrent.futures.Future[Any]:
        """A future of the run's output, resolved when it is (or already was) terminal; fails with
        `NotFound` if the run does not exist or is deleted (rolled back) before it ends.

        The waiter is registered first and the record read after: an end written before the read is
        seen by the read, an end written after it finds the waiter (`finish` writes, then wakes)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self.lock:
            self._waiters[run_id].append(future)
        run = self.storage.get_run(run_id)
        if run is None:
            self._drop(run_id, future)
            _settle(future, error=NotFound(f"Run {run_id} not found."))
        elif run.status in TERMINAL_RUN_STATUSES:
            self._drop(run_id, future)
            _settle(future, self.storage.get_run_output(run_id))
        return future

    def _drop(self, run_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self.lock:
            waiters = self._waiters.get(run_id)
            if waiters is not None and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[run_id]

    def finish(self, run_id: str, output: Any, record: Callable[[], Run | None]) -> None:
        """Persist the end of a run (`record` writes its output and terminal status, in one
        transaction: `Storage.end_run`) and wake whoever waits for it."""
        record()
        with self.lock:
            waiters = self._waiters.pop(run_id, [])
        for future in waiters:
            _settle(future, output)  # a waiter may have given up (cancelled); the others still hear

    def forget(self, run_id: str, reason: str) -> None:
        """The run was deleted: its waiters get a 404."""
        self.fail(run_id, NotFound(reason))

    def fail(self, run_id: str, error: BaseException) -> None:
        """Its waiters get `error` (a 404 when deleted; cluster mode: 503 when the thread moved)."""
        with self.lock:
            waiters = self._waiters.pop(run_id, [])
        for future in waiters:
            _settle(future, error=error)


def _settle(future: concurrent.futures.Future[Any], value: Any = None, *, error: BaseException | None = None) -> None:
    """Resolve a waiter unless it already is (given up, or woken by `finish` and `watch` both)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except concurrent.futures.InvalidStateError:
        pass
