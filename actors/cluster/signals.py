"""Signals over Redis pub/sub: wake-ups, never the only copy of anything (PostgreSQL holds all that is
durable). A process that released threads (idle, or leaving on SIGTERM) publishes on one channel;
every other process then looks for orphaned threads at once instead of at its next takeover tick.
Redis down or unreachable: nothing fails, hand-overs just wait for the tick (`lease / 4`)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import redis

log = logging.getLogger("switchboard.cluster")

CHANNEL = "switchboard:cluster:released"


class Signals:
    def __init__(self, url: str | None, on_wake: Callable[[], None], *, channel: str = CHANNEL) -> None:
        self.url = url
        self.on_wake = on_wake
        self.channel = channel
        self.sender = uuid.uuid4().hex
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) if url else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0

    def start(self) -> None:
        if self.client is not None:
            self._thread = threading.Thread(target=self._listen, name="switchboard-signals", daemon=True)
            self._thread.start()

    def released(self, count: int) -> None:
        """Tell the peers threads were released (`count` -1: this process is leaving)."""
        if self.client is None:
            return
        try:
            self.client.publish(self.channel, f"{self.sender} {count}")
        except redis.RedisError as exc:
            log.info("cluster: Redis unavailable, peers will notice at their next tick (%s)", exc)

    def _listen(self) -> None:
        assert self.client is not None
        while not self._stop.is_set():
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    sender = bytes(message["data"]).split(b" ", 1)[0].decode()
                    if sender != self.sender:
                        self.received += 1
                        self.on_wake()
                pubsub.close()
            except (redis.RedisError, OSError) as exc:
                log.info("cluster: Redis unavailable (%s); hand-overs wait for the takeover tick", exc)
                self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        if self.client is not None:
            self.client.close()
