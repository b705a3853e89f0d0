"""Waiting for runs to end (`join`, `wait`, `cancel?wait=1`) without polling.

The thread actor records a run's terminal status and output, then wakes its waiters under this lock;
a joiner checks the status and registers under the same lock, so no end can slip between the two.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .errors import NotFound
from .models import TERMINAL_RUN_STATUSES, Run
from .storage import Storage


class RunWatchers:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.lock = threading.Lock()
        self._waiters: dict[str, list[concurrent.futures.Future[Any]]] = defaultdict(list)

    def watch(self, run_id: str) -> concurrent.futures.Future[Any]:
        """A future of the run's output, resolved when it is (or already was) terminal; fails with
        `NotFound` if the run does not exist or is deleted (rolled back) before it ends."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self.lock:
            run = self.storage.get_run(run_id)
            if run is None:
                future.set_exception(NotFound(f"Run {run_id} not found."))
            elif run.status in TERMINAL_RUN_STATUSES:
                future.set_result(self.storage.get_run_output(run_id))
            else:
                self._waiters[run_id].append(future)
        return future

    def finish(self, run_id: str, output: Any, record: Callable[[], Run | None]) -> None:
        """Persist the end of a run (`record` writes its status) and wake whoever waits for it."""
        # Output first, status last: a crash in between leaves a non-terminal run, which start-up
        # recovery ends (and gives an output), never a finished run without output. The writes
        # happen outside the lock (they may wait out a database outage): a joiner that registers
        # before the pop below is woken by it, one that comes after it sees the terminal status.
        self.storage.set_run_output(run_id, output)
        record()
        with self.lock:
            waiters = self._waiters.pop(run_id, [])
        for future in waiters:
            if not future.done():  # a waiter may have given up (cancelled); the others still hear
                future.set_result(output)

    def forget(self, run_id: str, reason: str) -> None:
        """The run was deleted: its waiters get a 404."""
        with self.lock:
            waiters = self._waiters.pop(run_id, [])
        for future in waiters:
            if not future.done():
                future.set_exception(NotFound(reason))
