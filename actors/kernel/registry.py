"""Which thread actors are alive. Every message to a thread goes through `tell`, under one lock, so a
thread actor that passivates itself (`release`) can be sure nobody holds a stale reference to it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pykka


class ThreadRegistry:
    def __init__(
        self, spawn: Callable[[str], pykka.ActorRef[Any]], prepare: Callable[[str], None] | None = None
    ) -> None:
        self._spawn = spawn
        self._prepare = prepare
        """Cluster mode: called before spawning, outside the lock (it may take the thread over and
        recover it, which waits for the graph loop, whose callbacks tell threads)."""
        self.on_hand_over: Callable[[list[str]], list[str]] | None = None
        """Cluster mode: releases threads (actors/cluster/node.py)."""
        self._lock = threading.Lock()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}

    def tell(self, thread_id: str, message: Any, *, spawn: bool = True) -> bool:
        """Deliver to the thread's actor, starting it if needed (unless `spawn=False`)."""
        if self._prepare is not None and spawn and not self._has(thread_id):
            self._prepare(thread_id)
        with self._lock:
            ref = self._refs.get(thread_id)
            if ref is None or not ref.is_alive():
                if not spawn:
                    return False
                ref = self._refs[thread_id] = self._spawn(thread_id)
            ref.tell(message)
            return True

    def _has(self, thread_id: str) -> bool:
        with self._lock:
            ref = self._refs.get(thread_id)
            return ref is not None and ref.is_alive()

    def release(self, thread_id: str, ref: pykka.ActorRef[Any], can_stop: Callable[[], bool]) -> bool:
        """Unregister an actor that wants to stop, if `can_stop()` still holds under the lock."""
        with self._lock:
            if self._refs.get(thread_id) is not ref or not can_stop():
                return False
            del self._refs[thread_id]
            return True

    def without_actor(self, thread_ids: list[str], release: Callable[[list[str]], list[str]]) -> list[str]:
        """Cluster mode: `release` those of `thread_ids` that have no live actor, under the lock, so no
        actor is spawned for a thread while it is being given up; what `release` gave up."""
        with self._lock:
            idle = [t for t in thread_ids if (ref := self._refs.get(t)) is None or not ref.is_alive()]
            return release(idle) if idle else []

    def released_for_hand_over(self, thread_id: str, ref: pykka.ActorRef[Any], can_stop: Callable[[], bool]) -> list[str]:
        """Cluster mode: unregister this actor and give its thread up (`on_hand_over`), under the lock,
        if `can_stop()` still holds (its mailbox is empty: no request is dropped)."""
        with self._lock:
            if self._refs.get(thread_id) is not ref or self.on_hand_over is None or not can_stop():
                return []
            del self._refs[thread_id]
            return self.on_hand_over([thread_id])

    def alive(self) -> int:
        with self._lock:
            return len(self._refs)

    def refs(self) -> list[pykka.ActorRef[Any]]:
        with self._lock:
            return list(self._refs.values())
