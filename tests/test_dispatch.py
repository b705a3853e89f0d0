"""Dispatched actors (actors/kernel/dispatch.py): pykka's actor contract - one message at a time, in order,
asks answered, stop honoured - while many actors share a few threads."""

from __future__ import annotations

import threading
import time

import pykka
import pytest
from pykka._envelope import Envelope  # to put a message past is_alive(), as a racing tell would

from actors.kernel.dispatch import DispatchedActor, PoolDispatcher
from actors.kernel.runtime import GraphLoop
from tests.conftest import wait_until


class Recorder(DispatchedActor):
    """Appends what it receives; notes if two of its handlers ever overlapped."""

    def __init__(self, dispatcher, log: list, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.log = log
        self.gate = gate
        self.busy = False
        self.overlapped = False
        self.threads: set[str] = set()

    def on_start(self) -> None:
        self.log.append("started")

    def on_receive(self, message):
        if self.busy:
            self.overlapped = True
        self.busy = True
        try:
            self.threads.add(threading.current_thread().name)
            if message == "block" and self.gate is not None:
                self.gate.wait(10)
            if message == "boom":
                raise ValueError("boom")
            if message == "where":
                return threading.current_thread().name
            if message == "overlapped?":
                return self.overlapped
            if isinstance(message, tuple) and message[0] == "probe":
                return message[1]()
            self.log.append(message)
            return message
        finally:
            self.busy = False


@pytest.fixture
def pool():
    dispatcher = PoolDispatcher(4, "test-dispatch")
    yield dispatcher
    dispatcher.shutdown()


def test_messages_handled_in_order_one_at_a_time_with_many_senders(pool):
    log: list = []
    ref = Recorder.start(pool, log)
    senders = [
        threading.Thread(target=lambda k=k: [ref.tell((k, i)) for i in range(200)]) for k in range(4)
    ]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    assert ref.ask("last", timeout=10) == "last"
    assert ref.ask("overlapped?", timeout=5) is False
    assert log[0] == "started"
    for k in range(4):
        assert [m for m in log if isinstance(m, tuple) and m[0] == k] == [(k, i) for i in range(200)]
    ref.stop()


def test_ask_returns_the_answer_or_raises_the_handlers_exception(pool):
    ref = Recorder.start(pool, [])
    assert ref.ask("hello", timeout=5) == "hello"
    with pytest.raises(ValueError, match="boom"):
        ref.ask("boom", timeout=5)
    assert ref.is_alive()  # an exception answered to an asker does not kill the actor
    ref.stop()


def test_an_exception_in_a_told_message_stops_the_actor(pool):
    ref = Recorder.start(pool, [])
    ref.tell("boom")
    wait_until(lambda: not ref.is_alive(), timeout=5)
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")


def test_stop_answers_asks_queued_behind_it_with_actor_dead(pool):
    gate = threading.Event()
    log: list = []
    ref = Recorder.start(pool, log, gate)
    ref.tell("block")  # holds the actor while the stop and an ask queue up behind it
    stopped = ref.stop(block=False)
    # a message that slipped past is_alive() just before the stop
    answer = pykka.ThreadingFuture()
    ref.actor_inbox.put(Envelope("after-stop", reply_to=answer))
    gate.set()
    stopped.get(timeout=5)
    with pytest.raises(pykka.ActorDeadError):
        answer.get(timeout=5)
    assert "after-stop" not in log


def test_many_actors_share_the_pools_threads(pool):
    before = threading.active_count()
    refs = [Recorder.start(pool, []) for _ in range(300)]
    names = {ref.ask("where", timeout=5) for ref in refs}
    assert names <= {t.name for t in threading.enumerate()}
    assert len(names) <= 4
    assert threading.active_count() <= before + 4
    for ref in refs:
        ref.stop()


def test_a_flooded_actor_does_not_starve_another_on_the_same_worker():
    single = PoolDispatcher(1, "test-dispatch-single")
    try:
        gate = threading.Event()
        flooded_log: list = []
        flooded = Recorder.start(single, flooded_log, gate)
        other = Recorder.start(single, [])
        other.ask("ready", timeout=5)
        flooded.tell("block")  # the only worker is now held by the flooded actor's turn
        for i in range(1000):
            flooded.tell(i)
        answer = other.ask(("probe", lambda: len(flooded_log)), block=False)
        gate.set()
        # answered after one turn of the flooded actor, not after all of its 1000 messages
        assert answer.get(timeout=10) <= 2 + DispatchedActor.throughput
        flooded.ask("done", timeout=10)
        assert [m for m in flooded_log if isinstance(m, int)] == list(range(1000))
    finally:
        single.shutdown()


def test_an_actor_on_the_graph_loop_runs_there():
    loop = GraphLoop(max_sync_workers=2)
    try:
        ref = Recorder.start(loop, [])
        assert ref.ask("where", timeout=5) == "switchboard-graph-loop"
        deadline = time.monotonic() + 5
        ref.stop(timeout=max(0.1, deadline - time.monotonic()))
        assert not ref.is_alive()
    finally:
        loop.stop()
