"""Protocol v2's per-thread replay buffer on its own: numbering, filters, the size and age bounds,
`since` and `resume_gap`, and the sweep that drops idle buffers. Fed the thread-feed events a run
publishes (`StreamEvent`s), with a hand-driven clock."""

from __future__ import annotations

import pytest

from actors.kernel import serde
from actors.protocol_log import EventFilter, ProtocolLog, ProtocolLogs, ResumeGap
from actors.kernel.streams import StreamEvent


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(log: ProtocolLog, *events: tuple[str, object]) -> None:
    for i, (name, data) in enumerate(events):
        log.ingest(StreamEvent(i, name, serde.dumps(data)))


def a_run(run_id: str, values: int) -> list[tuple[str, object]]:
    """What the thread feed carries for one run: its start, `values` chunks, its end."""
    return [
        ("metadata", {"run_id": run_id, "attempt": 1}),
        *[("values", {"n": i}) for i in range(values)],
        ("metadata", {"status": "run_done", "run_id": run_id}),
    ]


def make_log(clock: Clock, **bounds) -> ProtocolLog:
    return ProtocolLog(
        "t", max_events=bounds.get("max_events", 100), max_age=bounds.get("max_age", 60.0),
        graph_of=lambda run_id: "g", run_status=lambda run_id: "success", clock=clock,
    )


def everything(entry) -> bool:
    return True


def test_events_are_numbered_across_runs_and_replayed_after_since():
    log = make_log(Clock())
    feed(log, *a_run("r1", 2), *a_run("r2", 1))
    events = [serde.loads(e.body) for e in log.backlog(everything, None)]
    assert [e["seq"] for e in events] == list(range(1, 8))
    assert [(e["method"], e["params"]["data"].get("event")) for e in events] == [
        ("lifecycle", "running"), ("values", None), ("values", None), ("lifecycle", "completed"),
        ("lifecycle", "running"), ("values", None), ("lifecycle", "completed"),
    ]
    assert len({e["event_id"] for e in events}) == 7
    assert [e.seq for e in log.backlog(everything, 4)] == [5, 6, 7]
    only_lifecycle = EventFilter(frozenset({"lifecycle"}))
    assert [e.seq for e in log.backlog(only_lifecycle.matches, None)] == [1, 4, 5, 7]


def test_the_size_bound_evicts_the_oldest_and_a_resume_behind_it_is_a_gap():
    log = make_log(Clock(), max_events=3)
    feed(log, *a_run("r1", 4))  # 6 events, 3 kept
    assert [e.seq for e in log.backlog(everything, None)] == [4, 5, 6]
    assert [e.seq for e in log.backlog(everything, 3)] == [4, 5, 6]  # nothing after 3 is missing
    with pytest.raises(ResumeGap) as gap:
        log.backlog(everything, 2)
    assert (gap.value.since, gap.value.min_available_seq) == (2, 4)
    with pytest.raises(ResumeGap):
        log.backlog(everything, 99)  # not a seq of this buffer


def test_the_age_bound_evicts_events_older_than_max_age():
    clock = Clock()
    log = make_log(clock, max_age=10.0)
    feed(log, *a_run("r1", 1))
    clock.now += 5
    feed(log, *a_run("r2", 1))
    clock.now += 6  # the first run's events are 11 s old, the second's 6 s
    assert [e.seq for e in log.backlog(everything, None)] == [4, 5, 6]
    with pytest.raises(ResumeGap):
        log.backlog(everything, 0)


def test_a_subscriber_gets_the_backlog_then_live_events_in_order():
    log = make_log(Clock())
    feed(log, *a_run("r1", 1))
    got = []
    unsubscribe, replayed = log.subscribe(got.append, everything, since=1)
    assert replayed == 2
    feed(log, *a_run("r2", 1))
    unsubscribe()
    feed(log, *a_run("r3", 1))
    assert [e.seq for e in got] == [2, 3, 4, 5, 6]


def test_idle_unread_logs_are_dropped_by_the_sweep():
    clock = Clock()
    follows, timers = [], []
    logs = ProtocolLogs(
        follow=lambda thread_id, deliver: follows.append(thread_id) or (lambda: follows.remove(thread_id)),
        graph_of=lambda run_id: None, run_status=lambda thread_id, run_id: "success",
        call_later=lambda delay, fn: timers.append(fn), max_age=10.0, clock=clock,
    )
    read, idle = logs.get("a"), logs.get("b")
    assert follows == ["a", "b"] and logs.get("a") is read
    unsubscribe, _ = read.subscribe(lambda entry: None, everything)
    clock.now += 11
    timers.pop()()  # the sweep
    assert logs.peek("b") is None and idle.closed and follows == ["a"]  # unread and idle: dropped, unfollowed
    assert logs.peek("a") is read  # read: kept
    unsubscribe()
    clock.now += 11
    timers.pop()()
    assert logs.peek("a") is None and follows == [] and not timers
