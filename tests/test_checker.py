"""The checker on hand-made histories: a clean one passes, and each rule catches its violation."""

from __future__ import annotations

import pytest

from loadtest.checker import RULES, check
from loadtest.history import DELETED, History, Op, StepEvent

T = "thread-1"


class Story:
    """Builds a history of one thread with readable times (seconds from 0)."""

    def __init__(self) -> None:
        self.h = History()

    def create(self, run: str | None, strategy: str, sent: float, answered: float, result: str = "accepted", steps: int = 2) -> Story:
        self.h.add(Op(kind="create", thread=T, run=run, strategy=strategy, t_send=sent, t_resp=answered, result=result, steps=steps))  # type: ignore[arg-type]
        return self

    def join(self, run: str, sent: float, answered: float, result: str = "ok") -> Story:
        self.h.add(Op(kind="join", thread=T, run=run, t_send=sent, t_resp=answered, result=result))  # type: ignore[arg-type]
        return self

    def step(self, run: str, step: int, start: float, end: float | None = None, cancelled: float | None = None) -> Story:
        self.h.steps.append(StepEvent(thread=T, run=run, step=step, event="start", t=start))
        if end is not None:
            self.h.steps.append(StepEvent(thread=T, run=run, step=step, event="end", t=end))
        if cancelled is not None:
            self.h.steps.append(StepEvent(thread=T, run=run, step=step, event="cancel", t=cancelled))
        return self

    def final(self, done: list[str], **status: str) -> History:
        self.h.final_status.update(status)
        self.h.final_done[T] = done
        self.h.steps.sort(key=lambda e: e.t)
        return self.h


def rules(history: History) -> set[str]:
    return {v.rule for v in check(history)}


def clean_story() -> Story:
    """A runs 2 steps; B (enqueue) waits; C interrupts B mid-step 1; D (rollback) rolls C back at
    step 0; E (reject) is refused while D runs."""
    return (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 1.0).step("A", 1, 1.1, 2.0)
        .create("B", "enqueue", 0.5, 0.6).step("B", 0, 2.2, 3.0).step("B", 1, 3.1, cancelled=3.5)
        .create("C", "interrupt", 3.4, 3.45).step("C", 0, 3.6, cancelled=4.1)
        .create("D", "rollback", 4.0, 4.05).step("D", 0, 4.2, 5.0).step("D", 1, 5.1, 6.0)
        .create(None, "reject", 5.5, 5.6, result="rejected")
        .join("A", 0.1, 2.1).join("D", 4.1, 6.1)
    )


CLEAN_DONE = ["A:0", "A:1", "B:0", "D:0", "D:1"]
CLEAN_STATUS = {"A": "success", "B": "interrupted", "C": DELETED, "D": "success"}


def test_a_clean_history_has_no_violations():
    assert check(clean_story().final(CLEAN_DONE, **CLEAN_STATUS)) == []


def test_an_interrupted_run_may_or_may_not_keep_its_last_completed_step():
    # B's step 0 ended but step 1 never started: its output may be lost to the interrupt.
    history = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=2).step("A", 0, 0.2, 0.5)
        .create("B", "interrupt", 0.55, 0.6).step("B", 0, 0.7, 0.8).step("B", 1, 0.9, 1.0)
        .final(["B:0", "B:1"], A="interrupted", B="success")
    )
    assert check(history) == []


def test_every_rule_is_documented_and_distinct():
    assert len(RULES) == len(set(RULES))


def test_concurrent_runs():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 1.0).step("A", 1, 1.1, 2.0)
        .create("B", "enqueue", 0.5, 0.6).step("B", 0, 1.5, 2.5).step("B", 1, 2.6, 3.0)
        .final(["A:0", "A:1", "B:0", "B:1"], A="success", B="success")
    )
    found = check(h)
    assert [v.rule for v in found] == ["concurrent-runs"]
    assert found[0].runs == ("A", "B") and found[0].thread == T


def test_step_after_successor():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 1.0).step("A", 1, 1.1, cancelled=1.9)
        .create("B", "interrupt", 1.2, 1.3).step("B", 0, 1.5, 2.0).step("B", 1, 2.1, 2.5)
        .final(["A:0", "B:0", "B:1"], A="interrupted", B="success")
    )
    found = check(h)
    assert [v.rule for v in found] == ["step-after-successor"]
    assert found[0].runs == ("A", "B")


def test_unfinished_step():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 1.0).step("A", 1, 1.1)
        .create("B", "interrupt", 1.2, 1.3).step("B", 0, 1.5, 2.0).step("B", 1, 2.1, 2.5)
        .final(["A:0", "B:0", "B:1"], A="interrupted", B="success")
    )
    assert "unfinished-step" in rules(h)


def test_repeated_step():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 0, 0.4, 0.5).step("A", 1, 0.6, 0.7)
        .final(["A:0", "A:1"], A="success")
    )
    assert rules(h) == {"repeated-step"}


def test_not_terminal():
    h = Story().create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).final(["A:0"], A="running")
    assert rules(h) == {"not-terminal"}


def test_run_vanished_without_a_rollback():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, cancelled=0.5)
        .create("B", "interrupt", 0.4, 0.45).step("B", 0, 0.6, 0.7).step("B", 1, 0.8, 0.9)
        .final(["B:0", "B:1"], A=DELETED, B="success")
    )
    assert rules(h) == {"run-vanished"}


def test_rollback_that_answered_before_the_run_was_sent_does_not_explain_it():
    h = (
        Story()
        .create("R", "rollback", 0.0, 0.05).step("R", 0, 0.1, 0.2).step("R", 1, 0.3, 0.4)
        .create("A", "enqueue", 1.0, 1.1)
        .final(["R:0", "R:1"], R="success", A=DELETED)
    )
    assert rules(h) == {"run-vanished"}


def test_stopped_without_cause():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 1, 0.4, cancelled=0.5)
        .create("B", "enqueue", 0.2, 0.25).step("B", 0, 0.6, 0.7).step("B", 1, 0.8, 0.9)
        .final(["A:0", "B:0", "B:1"], A="interrupted", B="success")
    )
    assert rules(h) == {"stopped-without-cause"}


def test_run_error():
    h = Story().create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).final(["A:0"], A="error")
    assert rules(h) == {"run-error"}


def test_incomplete_run():
    h = Story().create("A", "enqueue", 0.0, 0.1, steps=2).step("A", 0, 0.2, 0.3).final(["A:0"], A="success")
    assert rules(h) == {"incomplete-run"}


def test_enqueue_order():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=1)
        .create("B", "enqueue", 0.2, 0.3, steps=1)
        .step("B", 0, 0.4, 0.5).step("A", 0, 0.6, 0.7)
        .final(["B:0", "A:0"], A="success", B="success")
    )
    found = check(h)
    assert [v.rule for v in found] == ["enqueue-order"]
    assert found[0].runs == ("A", "B")


def test_overlapping_requests_may_be_served_in_either_order():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.3, steps=1)
        .create("B", "enqueue", 0.1, 0.2, steps=1)
        .step("B", 0, 0.4, 0.5).step("A", 0, 0.6, 0.7)
        .final(["B:0", "A:0"], A="success", B="success")
    )
    assert check(h) == []


def test_unknown_run():
    h = (
        Story()
        .create(None, "reject", 0.0, 0.1, result="rejected")
        .create("A", "enqueue", 0.0, 0.05, steps=1).step("A", 0, 0.06, 0.5)
        .step("X", 0, 0.6, 0.7)
        .final(["A:0", "X:0"], A="success")
    )
    assert rules(h) == {"unknown-run"}


def test_rollback_trace():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 1, 0.4, cancelled=0.5)
        .create("B", "rollback", 0.45, 0.46).step("B", 0, 0.6, 0.7).step("B", 1, 0.8, 0.9)
        .final(["A:0", "B:0", "B:1"], A=DELETED, B="success")
    )
    found = check(h)
    assert [v.rule for v in found] == ["rollback-trace"]
    assert found[0].runs == ("A",)


def test_lost_step():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 1, 0.4, cancelled=0.5)
        .create("B", "interrupt", 0.45, 0.46).step("B", 0, 0.6, 0.7).step("B", 1, 0.8, 0.9)
        .final(["B:0", "B:1"], A="interrupted", B="success")
    )
    assert rules(h) == {"lost-step"}


def test_duplicate_step():
    h = Story().create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 1, 0.4, 0.5).final(["A:0", "A:1", "A:1"], A="success")
    assert rules(h) == {"duplicate-step"}


def test_phantom_step():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).step("A", 1, 0.4, cancelled=0.5)
        .create("B", "interrupt", 0.45, 0.46).step("B", 0, 0.6, 0.7).step("B", 1, 0.8, 0.9)
        .final(["A:0", "A:1", "B:0", "B:1"], A="interrupted", B="success")
    )
    assert rules(h) == {"phantom-step"}


def test_reject_while_idle():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=1).step("A", 0, 0.2, 0.3).join("A", 0.1, 0.4)
        .create(None, "reject", 0.5, 0.6, result="rejected")
        .final(["A:0"], A="success")
    )
    assert rules(h) == {"reject-while-idle"}


def test_reject_is_fine_while_the_other_run_may_still_be_finishing():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=1).step("A", 0, 0.2, 0.3).join("A", 0.1, 0.6)
        .create(None, "reject", 0.35, 0.4, result="rejected")
        .final(["A:0"], A="success")
    )
    assert check(h) == []


def test_accepted_while_busy():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=1).step("A", 0, 0.2, 1.0)
        .create("R", "reject", 0.5, 0.6, steps=1).step("R", 0, 1.1, 1.2)
        .final(["A:0", "R:0"], A="success", R="success")
    )
    found = check(h)
    assert [v.rule for v in found] == ["accepted-while-busy"]
    assert found[0].runs == ("R", "A")


def test_unexpected_reject():
    h = (
        Story()
        .create("A", "enqueue", 0.0, 0.1, steps=1).step("A", 0, 0.2, 1.0)
        .create(None, "enqueue", 0.5, 0.6, result="rejected")
        .final(["A:0"], A="success")
    )
    assert rules(h) == {"unexpected-reject"}


def test_request_error():
    h = Story().create(None, "enqueue", 0.0, 0.1, result="error").final([])
    assert rules(h) == {"request-error"}


def test_violations_name_the_thread_and_runs():
    h = Story().create("A", "enqueue", 0.0, 0.1).step("A", 0, 0.2, 0.3).final(["A:0"], A="running")
    (violation,) = check(h)
    assert "thread thread-1" in str(violation) and "A" in str(violation) and "[not-terminal]" in str(violation)


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_has_a_test_here(rule):
    import tests.test_checker as me

    names = " ".join(n for n in dir(me) if n.startswith("test_"))
    assert rule.replace("-", "_") in names


def test_a_history_survives_json():
    history = clean_story().final(CLEAN_DONE, **CLEAN_STATUS)
    again = History.from_json(history.to_json())
    assert again == history and check(again) == []
