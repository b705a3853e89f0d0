"""Protocol v2 replay buffers: per thread, the numbered protocol events of its runs, for the
`POST /threads/{id}/stream/events` SSE stream and the WebSocket of the same path.

A thread's `ProtocolLog` follows the thread's feed (`StreamRegistry.follow`, the same events the
runs API streams), translates each event (`protocol_events.py`) and numbers the results `seq`
1, 2, ... A reader that reconnects with `since=<seq>` gets exactly the events after it, or a
`ResumeGap` if some of them are no longer kept. Bounded memory: a log keeps at most
`max_events` events and none older than `max_age` seconds, and is dropped once nobody reads it,
no run of its thread is streaming and it has been idle for `max_age` (docs/api.md, "Protocol v2").
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from .kernel import serde
from .protocol_events import CHANNELS, ProtocolTranslator, channel_of
from .kernel.streams import StreamEvent

log = logging.getLogger("switchboard.protocol")


class ResumeGap(Exception):
    """The events after `since` are not all kept any more (or `since` is not a seq of this log)."""

    def __init__(self, since: int, min_available_seq: int) -> None:
        super().__init__(
            f"Cannot resume after seq {since}: the oldest event still buffered is seq {min_available_seq}."
        )
        self.since = since
        self.min_available_seq = min_available_seq


class Entry(msgspec.Struct, frozen=True):
    seq: int
    at: float  # the clock (time.monotonic) when it was appended
    method: str
    channel: str
    namespace: tuple[str, ...]
    body: bytes  # the whole event, JSON-encoded once


class EventFilter(msgspec.Struct, frozen=True):
    """Which events a reader wants: channels, namespace prefixes, depth below them (the SDK's
    rules: a segment `name` also matches `name:<task id>`; no prefixes means every namespace)."""

    channels: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] | None = None
    depth: int | None = None

    def matches(self, entry: Entry) -> bool:
        channel = entry.channel
        if channel not in self.channels and not (channel.startswith("custom:") and "custom" in self.channels):
            return False
        if not self.namespaces:
            return True
        return any(self._under(entry.namespace, prefix) for prefix in self.namespaces)

    def _under(self, namespace: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
        if len(prefix) > len(namespace):
            return False
        for want, have in zip(prefix, namespace):
            if want != have and (":" in want or have.split(":", 1)[0] != want):
                return False
        return self.depth is None or len(namespace) - len(prefix) <= self.depth


def check_channels(channels: Iterable[Any]) -> list[str]:
    """The channel names that are not ones of the protocol (`custom:<name>` is one)."""
    return [repr(c) if not isinstance(c, str) else c for c in channels if not (isinstance(c, str) and (c in CHANNELS or c.startswith("custom:")))]


Deliver = Callable[[Entry | None], None]  # None: the log is closed (its thread was deleted)


class ProtocolLog:
    def __init__(
        self,
        thread_id: str,
        *,
        max_events: int,
        max_age: float,
        graph_of: Callable[[str], str | None],
        run_status: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.thread_id = thread_id
        self._clock = clock
        self.max_events = max_events
        self.max_age = max_age
        self.lock = threading.RLock()
        self._entries: deque[Entry] = deque()
        self._next_seq = 1
        self._evicted_through = 0
        self._epoch = uuid.uuid4().hex[:12]  # event ids stay unique if the log is dropped and made again
        self._translator = ProtocolTranslator(graph_of)
        self._run_status = run_status
        self._subscribers: list[tuple[Deliver, Callable[[Entry], bool]]] = []
        self.last_activity = clock()
        self.closed = False
        self.unfollow: Callable[[], None] | None = None

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    @property
    def readers(self) -> int:
        return len(self._subscribers)

    @property
    def streaming(self) -> bool:
        """A run of the thread is between its start and its end."""
        return self._translator.running

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        with self.lock:
            return sum(len(e.body) for e in self._entries)

    # --- writing (from the thread feed, on the publisher's thread) --------------------------------

    def ingest(self, item: StreamEvent | None) -> None:
        if item is None:
            self.close()
            return
        try:
            data = item.decoded()
        except msgspec.DecodeError:
            return
        with self.lock:
            if self.closed:
                return
            for event in self._translator.translate(item.event, data, run_status=self._run_status):
                self._append(event)

    def _append(self, event: dict[str, Any]) -> None:
        seq = self._next_seq
        self._next_seq += 1
        body = serde.dumps({"type": "event", "event_id": f"{self._epoch}-{seq}", "seq": seq, **event})
        params = event["params"]
        entry = Entry(seq, self._clock(), event["method"], channel_of(event["method"], params.get("data")), tuple(params["namespace"]), body)
        self._entries.append(entry)
        self.last_activity = entry.at
        self._evict(entry.at)
        for deliver, wanted in self._subscribers:
            if wanted(entry):
                deliver(entry)

    def _evict(self, now: float) -> None:
        entries = self._entries
        while entries and (len(entries) > self.max_events or now - entries[0].at > self.max_age):
            self._evicted_through = entries.popleft().seq

    # --- reading ---------------------------------------------------------------------------------

    def backlog(self, wanted: Callable[[Entry], bool], since: int | None) -> list[Entry]:
        """The kept events after `since` (all kept ones without it) that `wanted` accepts; raises
        ResumeGap if some event after `since` is gone. Call under `lock` to add a reader atomically."""
        with self.lock:
            self._evict(self._clock())
            if since is not None and (since < self._evicted_through or since > self.last_seq):
                oldest = self._entries[0].seq if self._entries else self._next_seq
                raise ResumeGap(since, oldest)
            return [e for e in self._entries if (since is None or e.seq > since) and wanted(e)]

    def subscribe(self, deliver: Deliver, wanted: Callable[[Entry], bool], *, since: int | None = None) -> tuple[Callable[[], None], int]:
        """Deliver the backlog after `since` then every new event `wanted` accepts, in seq order
        (`deliver` runs under the log's lock: it must only hand the entry over). Returns how to
        unsubscribe and how many events were replayed."""
        with self.lock:
            backlog = self.backlog(wanted, since)
            for entry in backlog:
                deliver(entry)
            if self.closed:
                deliver(None)
            else:
                self._subscribers.append((deliver, wanted))
            self.last_activity = self._clock()

        def unsubscribe() -> None:
            with self.lock:
                self._subscribers = [s for s in self._subscribers if s[0] is not deliver]
                self.last_activity = self._clock()

        return unsubscribe, len(backlog)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            subscribers, self._subscribers = self._subscribers, []
            for deliver, _ in subscribers:
                deliver(None)
        if self.unfollow is not None:
            self.unfollow()

    def tree(self) -> dict[str, Any] | None:
        """The agent tree of the run streaming now (`agent.getTree`), or None."""
        with self.lock:
            return self._translator.tree() if self._translator.running else None


class ProtocolLogs:
    """The protocol logs of a system, by thread id; made on demand, dropped by a sweep."""

    def __init__(
        self,
        *,
        follow: Callable[[str, Callable[[StreamEvent | None], None]], Callable[[], None]],
        graph_of: Callable[[str], str | None],
        run_status: Callable[[str, str], str | None],
        call_later: Callable[..., Any] | None,
        max_events: int = 10_000,
        max_age: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._follow = follow
        self._graph_of = graph_of
        self._run_status = run_status  # (thread_id, run_id) -> status: Operations.run_status
        self._call_later = call_later
        self.max_events = max_events
        self.max_age = max_age
        self._lock = threading.Lock()
        self._logs: dict[str, ProtocolLog] = {}
        self._sweeping = False

    def get(self, thread_id: str) -> ProtocolLog:
        """The thread's log, made (and following the thread) if it has none."""
        with self._lock:
            existing = self._logs.get(thread_id)
            if existing is not None and not existing.closed:
                return existing
            made = self._logs[thread_id] = ProtocolLog(
                thread_id, max_events=self.max_events, max_age=self.max_age, graph_of=self._graph_of,
                run_status=functools.partial(self._run_status, thread_id), clock=self._clock,
            )
            made.unfollow = self._follow(thread_id, made.ingest)
            self._schedule_sweep()
            return made

    def peek(self, thread_id: str) -> ProtocolLog | None:
        return self._logs.get(thread_id)

    def __len__(self) -> int:
        return len(self._logs)

    def sizes(self) -> dict[str, int]:
        """How many buffers, events and event bytes are kept (for /metrics)."""
        logs = list(self._logs.values())
        return {"buffers": len(logs), "events": sum(len(lg) for lg in logs), "bytes": sum(lg.bytes for lg in logs)}

    def _schedule_sweep(self) -> None:
        if not self._sweeping and self._call_later is not None:
            self._sweeping = True
            self._call_later(max(self.max_age / 4, 0.05), self.sweep)

    def sweep(self) -> None:
        """Drop the logs nobody reads, whose thread streams no run, idle for `max_age`."""
        now = self._clock()
        with self._lock:
            self._sweeping = False
            idle = [
                (thread_id, lg) for thread_id, lg in self._logs.items()
                if lg.closed or (not lg.readers and not lg.streaming and now - lg.last_activity >= self.max_age)
            ]
            for thread_id, _ in idle:
                del self._logs[thread_id]
            if self._logs:
                self._schedule_sweep()
        for _, lg in idle:
            lg.close()
