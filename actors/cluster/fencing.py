"""Fencing: a write of a thread (its runs, status, checkpoints) lands only if this process still owns
the thread at the epoch it holds in `Ownership.fences`; the check runs inside the writing transaction
(`switchboard_fence`, schema.py), so a write either commits before a takeover or is refused.

Whose write is it? A checkpoint names its thread (the saver passes it); a record write made during a
thread actor's turn belongs to that actor's thread (`writing_for`, set by the actor). Other writes
(assistants, crons, a thread being created) belong to no thread and are not fenced.

The check is one statement sent without waiting for its result: in the writer's pipeline it costs no
round trip; a refusal aborts the batch, which is then retried call by call, and the fenced call alone
fails with `Fenced`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from ..errors import Fenced
from .ownership import Ownership
from .schema import FENCED_SQLSTATE

_writing_for: contextvars.ContextVar[str | None] = contextvars.ContextVar("switchboard_writing_for", default=None)


@contextlib.contextmanager
def writing_for(thread_id: str) -> Iterator[None]:
    """Record writes made inside are the writes of this thread (a thread actor's turn, a takeover)."""
    token = _writing_for.set(thread_id)
    try:
        yield
    finally:
        _writing_for.reset(token)


class Fencing:
    def __init__(self, ownership: Ownership) -> None:
        self.ownership = ownership
        self.refused = 0
        """Writes refused so far (for tests and metrics)."""

    def guard(self, fn: Callable[..., Any], thread_id: str | None, conn_of: Callable[[], Any]) -> Callable[..., Any]:
        """`fn`, preceded in its transaction by the fence of the thread it writes for (`thread_id`,
        else the thread actor's whose turn this is; none: `fn` itself, unfenced)."""
        if thread_id is None:
            thread_id = _writing_for.get()
            if thread_id is None:
                return fn
            epoch = self.ownership.epoch(thread_id)
            if epoch is None:  # an actor of a thread this process no longer owns: not even tried
                self.refused += 1
                raise Fenced(f"thread {thread_id} is no longer owned by this process")
        else:
            epoch = self.ownership.epoch(thread_id)  # None: allowed only while nobody else owns it
        process_id = self.ownership.process_id

        def fenced(*args: Any) -> Any:
            try:
                conn_of().execute("SELECT switchboard_fence(%s, %s, %s)", (thread_id, process_id, epoch))
            except psycopg.Error as exc:
                raise self.refusal(exc) from None
            return fn(*args)

        return fenced

    def refusal(self, exc: Exception) -> Exception:
        """`exc` as the writer should report it: a fence's refusal becomes `Fenced`. In the writer's
        pipeline the refusal surfaces when the pipeline syncs, so the writer asks here too."""
        if isinstance(exc, psycopg.Error) and exc.sqlstate == FENCED_SQLSTATE:
            self.refused += 1
            return Fenced(f"fenced: {exc.diag.message_primary}")
        return exc
