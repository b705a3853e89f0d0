"""The multitask decision, exhaustively, as a pure function (no actors, no I/O)."""

from __future__ import annotations

import itertools

import pytest

from actors.runs.strategy import ActiveRun, Decision, decide, merge_stop

STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")
ACTIVES = (None, ActiveRun("a"), ActiveRun("a", "interrupt"), ActiveRun("a", "rollback"))
QUEUES = ((), ("q1",), ("q1", "q2"))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_idle_thread_accepts_every_strategy_without_stopping_anything(strategy):
    assert decide(None, (), strategy) == Decision(accept=True)


@pytest.mark.parametrize("active,queue", [(a, q) for a in ACTIVES for q in QUEUES if a is not None or q])
def test_reject_refuses_when_busy_and_changes_nothing(active, queue):
    assert decide(active, queue, "reject") == Decision(accept=False)


@pytest.mark.parametrize("active,queue", [(a, q) for a in ACTIVES for q in QUEUES])
def test_enqueue_never_stops_or_drops_anything(active, queue):
    assert decide(active, queue, "enqueue") == Decision(accept=True)


@pytest.mark.parametrize("active,queue", [(a, q) for a in ACTIVES[1:] for q in QUEUES])
def test_interrupt_stops_the_active_run_and_supersedes_the_queue(active, queue):
    decision = decide(active, queue, "interrupt")
    assert decision.accept
    expected_stop = "rollback" if active.stopping == "rollback" else "interrupt"
    assert decision.stop_active == expected_stop
    assert decision.drop_queued == queue
    assert decision.drop_as == ("interrupted" if queue else None)


@pytest.mark.parametrize("active,queue", [(a, q) for a in ACTIVES[1:] for q in QUEUES])
def test_rollback_stops_with_rollback_and_deletes_the_queue(active, queue):
    decision = decide(active, queue, "rollback")
    assert decision.accept
    assert decision.stop_active == "rollback"
    assert decision.drop_queued == queue
    assert decision.drop_as == ("deleted" if queue else None)


@pytest.mark.parametrize("strategy", ("interrupt", "rollback"))
def test_queue_without_active_run_is_superseded_without_a_stop(strategy):
    decision = decide(None, ("q1",), strategy)
    assert decision.accept and decision.stop_active is None and decision.drop_queued == ("q1",)


def test_a_stop_is_upgraded_to_rollback_but_never_downgraded():
    assert merge_stop(None, "interrupt") == "interrupt"
    assert merge_stop("interrupt", "rollback") == "rollback"
    assert merge_stop("rollback", "interrupt") == "rollback"
    assert merge_stop(None, "rollback") == "rollback"


def test_every_combination_is_decided_consistently():
    for active, queue, strategy in itertools.product(ACTIVES, QUEUES, STRATEGIES):
        decision = decide(active, queue, strategy)
        busy = active is not None or bool(queue)
        # Only `reject` on a busy thread refuses.
        assert decision.accept == (not busy or strategy != "reject")
        # Nothing is stopped or dropped on an idle thread or for enqueue/reject.
        if not busy or strategy in ("enqueue", "reject"):
            assert decision.stop_active is None and decision.drop_queued == ()
        # A stop is only ever asked of an existing active run.
        if decision.stop_active is not None:
            assert active is not None
        # Dropped runs are exactly the queue, never the active run.
        assert set(decision.drop_queued) <= set(queue)
