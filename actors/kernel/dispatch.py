"""Dispatched pykka actors: many actors share a few threads, as in Akka's dispatchers.

`pykka.ThreadingActor` gives every actor an OS thread that blocks on its inbox. For our actors that is
costly twice over: a run starts a thread (~0.2 ms on the create+join path) and every live thread actor
holds one (thousands under load). A `DispatchedActor` is an ordinary pykka actor - same `ActorRef`,
`tell`/`ask`/`stop`, `on_start`/`on_receive`/`on_stop` - whose mailbox, when a message arrives and the
actor is idle, schedules one *turn* on a dispatcher. A turn handles the waiting messages one by one (at
most `throughput`, then yields its worker to other actors), so an actor still handles one message at a
time and in order, but never owns a thread.

Two dispatchers:
- `PoolDispatcher`: a bounded pool of worker threads (thread actors; their handlers may do blocking
  storage calls, which take one worker, never the others' mailboxes).
- `LoopDispatcher`: the graph loop itself (run actors; their handlers only signal the driver that runs
  on the same loop, so a run's start and end cost no extra thread hand-off).

This relies on pykka's actor hooks (`_create_actor_inbox`, `_create_future`, `_start_actor_loop`,
`_actor_loop_setup`, `_handle_receive`, `_actor_loop_teardown`), the same ones its own threading
actor implements; pyproject pins pykka to the 4.x series they were written against.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import pykka
from pykka import ThreadingFuture
from pykka import messages as pykka_messages

log = logging.getLogger("switchboard.dispatch")


class Dispatcher(Protocol):
    def execute(self, turn: Callable[[], None]) -> None:
        """Run `turn` soon on one of the dispatcher's threads."""


class PoolDispatcher:
    """Up to `workers` threads taking turns from one queue, started as they are needed.

    Lighter than a `ThreadPoolExecutor` (no future, no semaphore per task: a turn answers through
    its actor's messages), which matters on a path taken twice per run."""

    def __init__(self, workers: int, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._max = workers
        self._name = name
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a turn, not yet promised one
        self._closed = False

    def execute(self, turn: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError(f"{self._name}: the dispatcher is shut down")
        self._queue.put(turn)
        with self._lock:
            if self._idle:
                self._idle -= 1  # a waiting worker takes it
                return
            if len(self._threads) >= self._max:
                return  # all busy: the next free worker takes it
            worker = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
            self._threads.append(worker)
        worker.start()

    def _work(self) -> None:
        while (turn := self._queue.get()) is not None:
            try:
                turn()
            except BaseException:  # noqa: BLE001 - a turn handles its own errors; this is a bug
                log.exception("%s: a turn failed", self._name)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)


class Mailbox:
    """An actor's inbox that asks for a turn when a message arrives and none is scheduled.

    `scheduled` is True from creation until the actor's first turn finds the mailbox empty, so
    messages sent before the actor is started wait for its first turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()
        self._scheduled = True
        self._request_turn: Callable[[], None] | None = None

    def bind(self, request_turn: Callable[[], None]) -> None:
        self._request_turn = request_turn
        request_turn()

    def put(self, envelope: Any, /) -> None:
        with self._lock:
            self._queue.append(envelope)
            if self._scheduled:
                return
            self._scheduled = True
        assert self._request_turn is not None
        self._request_turn()

    def take(self) -> Any | None:
        """The next envelope; None (and no turn scheduled any more) when the mailbox is empty."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            self._scheduled = False
            return None

    def empty(self) -> bool:
        with self._lock:
            return not self._queue


class DispatchedActor(pykka.Actor):
    """A pykka actor that runs in turns on `self.dispatcher` (set in `__init__` before start)."""

    dispatcher: Dispatcher
    throughput = 32
    """Messages handled per turn before the worker is handed to another actor."""

    actor_inbox: Mailbox  # type: ignore[assignment]

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Any]:  # type: ignore[override]
        """As pykka's, minus its global `ActorRegistry`: registering and unregistering there scans
        one process-wide list (O(live actors) per run end, measured at 3 % of create+join), and a
        system keeps its own registry of thread actors (`actors/kernel/registry.py`)."""
        actor = cls(*args, **kwargs)
        actor._start_actor_loop()
        return actor.actor_ref

    def stop_after_this_message(self) -> None:
        """Stop at the end of the current message, without the extra turn `stop()` takes (it queues
        a stop request behind whatever is waiting); anything still queued is answered as dead."""
        self._stop()

    def _stop(self) -> None:
        self.actor_stopped.set()
        try:
            self.on_stop()
        except Exception:  # noqa: BLE001
            self._handle_failure(*sys.exc_info())

    @staticmethod
    def _create_actor_inbox() -> Mailbox:  # type: ignore[override]
        return Mailbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return ThreadingFuture()

    def _start_actor_loop(self) -> None:
        self._set_up = False
        self.actor_inbox.bind(self._request_turn)

    def _request_turn(self) -> None:
        self.dispatcher.execute(self._turn)

    def _turn(self) -> None:
        if not self._set_up:
            self._set_up = True
            self._actor_loop_setup()
        for _ in range(self.throughput):
            if self.actor_stopped.is_set():
                self._tear_down()
                return
            envelope = self.actor_inbox.take()
            if envelope is None:
                if self.actor_stopped.is_set():  # stopped by on_start, or a message raced the stop
                    self._tear_down()
                return
            self._handle_envelope(envelope)
        self._request_turn()  # more may be waiting: come back after the others had their turn

    def _handle_envelope(self, envelope: Any) -> None:
        # What pykka's own actor loop does with one envelope.
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:  # noqa: BLE001
                    self._handle_failure(*sys.exc_info())
        except BaseException:  # noqa: BLE001 - as pykka: a SystemExit/KeyboardInterrupt stops everything
            log.debug("%r in %s; stopping all actors", sys.exc_info()[1], self)
            self._stop()
            pykka.ActorRegistry.stop_all(block=False)

    def _tear_down(self) -> None:
        # As pykka's teardown: a queued stop request is answered, any other ask gets ActorDeadError.
        # Taking until empty also clears `scheduled`, so a message that slips in after the stop
        # (a tell that passed `is_alive()` just before it) schedules a turn that lands here again.
        while (envelope := self.actor_inbox.take()) is not None:
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, pykka_messages._ActorStop):  # noqa: SLF001
                envelope.reply_to.set(None)
            else:
                dead = pykka.ActorDeadError(f"{self.actor_ref} stopped before handling the message")
                envelope.reply_to.set_exception(exc_info=(pykka.ActorDeadError, dead, None))
