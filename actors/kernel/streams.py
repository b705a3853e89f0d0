"""A run's event stream: the driver publishes, any number of subscribers (SSE, embedded) listen.

Events are encoded to JSON once, at publish time, and only while someone listens or the run keeps a
replay buffer (`stream_resumable`). A subscriber is a thread-safe callable, so the publisher (the
graph loop) never waits for a slow reader: async readers get `call_soon_threadsafe` into a queue.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import msgspec

from . import serde


class StreamEvent(msgspec.Struct, frozen=True):
    id: int
    event: str
    data: bytes  # JSON

    def decoded(self) -> Any:
        return serde.loads(self.data)


Deliver = Callable[["StreamEvent | None"], None]  # None means: the stream has ended


class Broadcast:
    """Numbered events to any number of subscribers, optionally kept for replay; thread-safe.

    Events are handed over under the lock (a `Deliver` only enqueues), so every subscriber gets
    them in id order even with several publishers, and one that joins while events are published
    gets its replay before anything newer: each event exactly once, in order. The end (None) is
    handed over after the lock: once closed, nothing else is delivered."""

    def __init__(self, *, keep: bool = False, keep_last: int | None = None) -> None:
        self.keep = keep
        self._lock = threading.RLock()
        self._subscribers: list[Deliver] = []
        self._history: deque[StreamEvent] = deque(maxlen=keep_last)
        self._next_id = 0
        self.closed = False

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    @property
    def followers(self) -> int:
        return len(self._subscribers)

    def emit(self, event: str, encoded: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            item = StreamEvent(self._next_id, event, encoded)
            self._next_id += 1
            if self.keep:
                self._history.append(item)
            for deliver in self._subscribers:
                deliver(item)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            subscribers, self._subscribers = self._subscribers, []
        for deliver in subscribers:
            deliver(None)

    def subscribe(self, deliver: Deliver, *, after_id: int | None = None) -> Callable[[], None]:
        """Add a listener; if events are kept, replay those after `after_id` (all without it)."""
        with self._lock:
            for item in self._history:
                if after_id is None or item.id > after_id:
                    deliver(item)
            closed = self.closed
            if not closed:
                self._subscribers.append(deliver)
        if closed:
            deliver(None)

        def unsubscribe() -> None:
            with self._lock:
                if deliver in self._subscribers:
                    self._subscribers.remove(deliver)

        return unsubscribe


class ThreadFeed(Broadcast):
    """Everything that happens on one thread, for `GET /threads/{id}/stream`: every event of its
    runs (forwarded by their `RunStream`s), `metadata` `{"status": "run_done"}` as each run ends, and
    `state_update` when its state is updated by hand; ids are the feed's own. Exists while someone
    follows the thread and lingers a while after the last one leaves, keeping its last `KEEP`
    events, so a reader that reconnects with `Last-Event-ID` gets what it missed. Closed when the
    thread is deleted."""

    KEEP = 1000

    def __init__(self, thread_id: str) -> None:
        super().__init__(keep=True, keep_last=self.KEEP)
        self.thread_id = thread_id
        self.lingering = False
        self.generation = 0

    @property
    def wanted(self) -> bool:
        return bool(self._subscribers) or self.lingering

    def publish(self, event: str, data: Any) -> None:
        if self.wanted:
            self.emit(event, data if isinstance(data, bytes) else serde.dumps(data))


class RunStream(Broadcast):
    """One run's events; kept for late joiners if the run is resumable, and forwarded to its
    thread's feed while someone follows the thread."""

    graph_id: str | None = None  # set when the run starts; protocol v2's lifecycle events name it

    def __init__(self, run_id: str, *, resumable: bool = False, feed: Callable[[], ThreadFeed | None] | None = None) -> None:
        super().__init__(keep=resumable)
        self.run_id = run_id
        self.resumable = resumable
        self._feed = feed  # the run's thread's feed, if anyone follows the thread

    @property
    def wanted(self) -> bool:
        """Whether publishing is worth its encoding cost right now."""
        return self.resumable or bool(self._subscribers) or self._followed() is not None

    def _followed(self) -> ThreadFeed | None:
        feed = self._feed() if self._feed is not None else None
        return feed if feed is not None and feed.wanted else None

    def publish(self, event: str, data: Any) -> None:
        feed = self._followed()
        if not (self.resumable or self._subscribers or feed is not None):
            return
        encoded = data if isinstance(data, bytes) else serde.dumps(data)
        self.emit(event, encoded)
        if feed is not None and not self.closed:
            feed.emit(event, encoded)


class AsyncSubscription:
    """Iterate a run's (or a thread feed's) events from any asyncio loop."""

    def __init__(
        self,
        stream: RunStream | None = None,
        *,
        after_id: int | None = None,
        subscribe: Callable[[Deliver], Callable[[], None]] | None = None,
    ) -> None:
        """Listen to `stream`, or through `subscribe(deliver) -> unsubscribe` (a thread feed)."""
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
        if subscribe is not None:
            self._unsubscribe = subscribe(self._deliver)
        else:
            assert stream is not None
            self._unsubscribe = stream.subscribe(self._deliver, after_id=after_id)

    def _deliver(self, item: StreamEvent | None) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the reader's loop is closed: nobody listens any more
            pass

    async def __aiter__(self) -> AsyncIterator[StreamEvent]:
        try:
            while (item := await self._queue.get()) is not None:
                yield item
        finally:
            self._unsubscribe()

    def close(self) -> None:
        self._unsubscribe()


class SyncSubscription:
    """Iterate a run's events from a plain thread."""

    def __init__(self, stream: RunStream, *, after_id: int | None = None) -> None:
        self._queue: queue.SimpleQueue[StreamEvent | None] = queue.SimpleQueue()
        self._unsubscribe = stream.subscribe(self._queue.put, after_id=after_id)

    def __iter__(self) -> Iterator[StreamEvent]:
        try:
            while (item := self._queue.get()) is not None:
                yield item
        finally:
            self._unsubscribe()

    def close(self) -> None:
        self._unsubscribe()


class StreamRegistry:
    """The open event streams of runs, by run id, and the feeds of followed threads."""

    def __init__(self, linger: float = 60.0, call_later: Callable[..., Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, RunStream] = {}
        self._feeds: dict[str, ThreadFeed] = {}
        self._linger = linger  # how long a feed outlives its last follower (for reconnects)
        self._call_later = call_later

    def open(self, run_id: str, *, resumable: bool = False, thread_id: str | None = None) -> RunStream:
        with self._lock:
            stream = self._streams.get(run_id)
            if stream is None:
                feed = (lambda: self._feeds.get(thread_id)) if thread_id is not None else None
                stream = self._streams[run_id] = RunStream(run_id, resumable=resumable, feed=feed)
            return stream

    def get(self, run_id: str) -> RunStream | None:
        return self._streams.get(run_id)

    def discard(self, run_id: str) -> None:
        with self._lock:
            self._streams.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._streams)

    # --- thread feeds ----------------------------------------------------------------------------

    def follow(self, thread_id: str, deliver: Deliver, *, after_id: int | None = None) -> Callable[[], None]:
        """Subscribe `deliver` to the thread's feed (made if nobody followed it lately): from now
        on, or with `after_id` (a reconnect's Last-Event-ID) replaying what came after it. Returns
        how to unsubscribe. Under the registry lock, so a feed is never dropped as a follower joins."""
        with self._lock:
            feed = self._feeds.get(thread_id)
            if feed is None or feed.closed:
                feed = self._feeds[thread_id] = ThreadFeed(thread_id)
            feed.lingering = False
            unsubscribe = feed.subscribe(deliver, after_id=feed.last_id if after_id is None else after_id)

        def unfollow() -> None:
            with self._lock:
                unsubscribe()
                if self._feeds.get(thread_id) is not feed or feed.wanted:
                    return
                if self._call_later is None or self._linger <= 0:
                    del self._feeds[thread_id]
                    return
                feed.lingering = True
                feed.generation += 1
                self._call_later(self._linger, self._drop_if_unfollowed, thread_id, feed, feed.generation)

        return unfollow

    def _drop_if_unfollowed(self, thread_id: str, feed: ThreadFeed, generation: int) -> None:
        with self._lock:
            if self._feeds.get(thread_id) is feed and not feed.followers and feed.generation == generation:
                feed.lingering = False
                del self._feeds[thread_id]

    def feed(self, thread_id: str) -> ThreadFeed | None:
        """The thread's feed if someone follows it (or did a moment ago)."""
        feed = self._feeds.get(thread_id)
        return feed if feed is not None and feed.wanted else None

    def followers(self, thread_id: str) -> int:
        """How many readers follow the thread's stream now."""
        feed = self._feeds.get(thread_id)
        return feed.followers if feed is not None else 0

    def close_feed(self, thread_id: str) -> None:
        with self._lock:
            feed = self._feeds.pop(thread_id, None)
        if feed is not None:
            feed.close()
