"""What every actor of one system shares: settings, storage, the graph loop, graphs, run streams,
run watchers and the thread registry. Actors read it; only messages change another actor's state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .errors import InvalidInput, NotFound
from .graphs import GraphRegistry
from .models import Assistant, Run
from .registry import ThreadRegistry
from .dispatch import PoolDispatcher
from .runtime import GraphLoop
from .settings import Settings
from .storage import Storage
from .protocol_log import ProtocolLogs
from .streams import Deliver, RunStream, ThreadFeed
from .watchers import RunWatchers


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


class SystemContext:
    def __init__(self, settings: Settings, storage: Storage, runtime: GraphLoop, graphs: GraphRegistry) -> None:
        self.settings = settings
        self.storage = storage
        self.runtime = runtime
        self.graphs = graphs
        self.actor_pool = PoolDispatcher(settings.actor_workers, "switchboard-thread-actor")
        """The workers thread actors take turns on (actors/dispatch.py)."""
        self.streams = StreamRegistry(settings.stream_keep_seconds, runtime.call_later)
        self.protocol = ProtocolLogs(
            follow=self.streams.follow,
            graph_of=lambda run_id: getattr(self.streams.get(run_id), "graph_id", None),
            run_status=lambda run_id: run.status if (run := storage.get_run(run_id)) is not None else None,
            call_later=runtime.call_later,
            max_events=settings.protocol_buffer_events,
            max_age=settings.protocol_buffer_seconds,
        )
        """Protocol v2 replay buffers, per thread (actors/protocol_log.py)."""
        self.watchers = RunWatchers(storage)
        self.registry: ThreadRegistry  # set by the system, which knows how to spawn thread actors
        self.draining = False
        """Set on graceful shutdown: no new runs are accepted or started (actors/shutdown.py)."""

    def resolve_assistant(self, assistant_id: str) -> Assistant:
        """An assistant by UUID, or a graph id standing for that graph's default assistant."""
        assistant = self.storage.get_assistant(assistant_id)
        if assistant is None and assistant_id in self.graphs.ids:
            from .models import graph_assistant_id

            assistant = self.storage.get_assistant(graph_assistant_id(assistant_id))
        if assistant is None:
            raise InvalidInput(
                f"Invalid assistant: '{assistant_id}'. Must be either a valid assistant UUID, "
                f"or one of the registered graphs: {self.graphs.ids}"
            )
        return assistant

    def assistant_of(self, run: Run) -> Assistant:
        assistant = self.storage.get_assistant(run.assistant_id)
        if assistant is None:
            raise NotFound(f"assistant {run.assistant_id} of run {run.run_id} no longer exists")
        return assistant

    def tell_thread(self, thread_id: str, message: Any, *, spawn: bool = True) -> bool:
        return self.registry.tell(thread_id, message, spawn=spawn)
