"""Routing: which process serves a request for a thread. Owned here -> here; owned by a live peer ->
that peer's advertise URL (server/forwarding.py proxies the request); no live owner -> this process
takes it and serves it. So every run of a thread executes in its owner, and the owner's mailbox,
streams and waiters see every request for it."""

from __future__ import annotations

import time
from collections.abc import Callable

from .ownership import Ownership

HOP = "x-switchboard-hop"
"""The header that marks a request forwarded by a peer (server/forwarding.py): how many hops so far."""


class Router:
    def __init__(self, ownership: Ownership, lease: float, adopt: Callable[[str], None], *,
                 draining: Callable[[], bool] = lambda: False,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ownership = ownership
        self.draining = draining
        self.adopt = adopt
        """Called when this process has just taken a thread: recover what its last owner left."""
        self.lease = lease
        self.clock, self.sleep = clock, sleep

    def route(self, thread_id: str) -> str | None:
        """None: serve here (owned here, or just taken); else the owning peer's URL."""
        if self.ownership.owns(thread_id):
            return None
        if self.draining():  # handing threads over, never taking them: the live owner, or here (503s)
            owner_now = self.ownership.where(thread_id)
            return None if owner_now is None or owner_now.process_id == self.ownership.process_id else owner_now.advertise_url
        live = self.ownership.where(thread_id)  # a plain read: most requests for a peer's thread stop here
        if live is not None and live.process_id != self.ownership.process_id:
            return live.advertise_url
        owner = self.ownership.acquire(thread_id)
        if owner.taken:
            self.adopt(thread_id)
        return None if owner.process_id == self.ownership.process_id else owner.advertise_url

    def reroute(self, thread_id: str, dead_url: str) -> str | None:
        """The owner at `dead_url` did not answer: wait (up to two leases) until the thread has another
        owner, or none and this process takes it. Returns as `route`; raises TimeoutError."""
        deadline = self.clock() + 2 * self.lease
        delay = 0.05
        while True:
            url = self.route(thread_id)
            if url != dead_url:
                return url
            if self.clock() >= deadline:
                raise TimeoutError(f"the owner of thread {thread_id} at {dead_url} does not answer")
            self.sleep(delay)
            delay = min(delay * 2, self.lease / 4)
