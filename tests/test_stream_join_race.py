"""Joining a run's stream while it publishes and ends: every joiner gets every event once, in order.

Found by the differential test: a join made as a resumable run ended sometimes got the run's `error`
before its last `updates`, or only its first event, because the replay was handed over outside the
lock while the publisher went on (and closed the stream) from its own thread."""

from __future__ import annotations

import sys
import threading

from actors.kernel.streams import RunStream, SyncSubscription

EVENTS = 300  # a replay long enough that, without ordering, the publisher overtakes it
JOINERS = 8
ROUNDS = 30


def run_round(round_no: int) -> list[list[int]]:
    stream = RunStream(f"run-{round_no}", resumable=True)
    for i in range(EVENTS // 2):  # half the run is behind us when the joiners arrive
        stream.publish("updates", {"i": i})
    start = threading.Barrier(JOINERS + 1)
    seen: list[list[int]] = [[] for _ in range(JOINERS)]

    def publisher() -> None:
        start.wait()
        for i in range(EVENTS // 2, EVENTS):
            stream.publish("updates", {"i": i})
        stream.publish("error", {"i": EVENTS})
        stream.close()

    def joiner(k: int) -> None:
        start.wait()
        seen[k] = [event.id for event in SyncSubscription(stream)]

    threads = [threading.Thread(target=publisher)] + [threading.Thread(target=joiner, args=(k,)) for k in range(JOINERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a joiner never saw the end of the stream"
    return seen


def test_joins_raced_against_the_run_get_every_event_once_in_order() -> None:
    expected = list(range(EVENTS + 1))
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, so joins really interleave with publishing
    try:
        rounds = [run_round(round_no) for round_no in range(ROUNDS)]
    finally:
        sys.setswitchinterval(switch_interval)
    for round_no, seen in enumerate(rounds):
        for k, ids in enumerate(seen):
            assert ids == expected, f"round {round_no}, joiner {k}: {len(ids)} events, first wrong at {first_wrong(ids, expected)}"


def test_a_join_after_the_end_replays_everything_then_ends() -> None:
    stream = RunStream("run", resumable=True)
    for i in range(5):
        stream.publish("updates", {"i": i})
    stream.close()
    assert [e.id for e in SyncSubscription(stream)] == [0, 1, 2, 3, 4]
    assert [e.id for e in SyncSubscription(stream, after_id=2)] == [3, 4]


def first_wrong(ids: list[int], expected: list[int]) -> int:
    return next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
