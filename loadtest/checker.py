"""The checker: rules a load-test history must satisfy, per thread.

Each rule looks only at what the harness saw (requests and responses with their times, the final run
statuses and thread states) and what the graph itself journaled (step start / end / cancel). A rule
reports a violation only when the history proves it; where the client cannot know the order of two
events (their intervals overlap), the rule gives the server the benefit of the doubt.

| rule | what it proves wrong |
|---|---|
| `concurrent-runs` | two runs of one thread executed steps at the same time |
| `step-after-successor` | an interrupted or rolled-back run executed a step after its successor began |
| `unfinished-step` | a step started and neither ended nor was cancelled |
| `repeated-step` | a run executed the same step twice |
| `not-terminal` | an accepted run never reached a terminal status |
| `run-vanished` | an accepted run is gone (404) though no rollback could have deleted it |
| `stopped-without-cause` | a run ended `interrupted` though no interrupt/rollback/cancel could have stopped it |
| `run-error` | a run ended `error` (the benchmark graph never raises) |
| `incomplete-run` | a run ended `success` without executing all its steps |
| `enqueue-order` | a run accepted after another one started before it |
| `unknown-run` | the graph executed a run no create accepted (e.g. a rejected one) |
| `rollback-trace` | a rolled-back run's step output is in the final state |
| `lost-step` | a step output that must be in the final state is not |
| `duplicate-step` | a step output is in the final state more than once |
| `phantom-step` | the final state holds a step output whose step never completed |
| `reject-while-idle` | a `reject` request got 409 though no other run could have been active |
| `accepted-while-busy` | a `reject` request was accepted while another run was surely executing |
| `unexpected-reject` | a non-`reject` request got 409 |
| `request-error` | a request failed (anything but an accepted run, or a 409 for `reject`) |
"""

from __future__ import annotations

import math
from collections import Counter

import msgspec

from .history import DELETED, TERMINAL, History, Op, RunExecution, StepEvent, executions

RULES = (
    "concurrent-runs", "step-after-successor", "unfinished-step", "repeated-step", "not-terminal",
    "run-vanished", "stopped-without-cause", "run-error", "incomplete-run", "enqueue-order", "unknown-run",
    "rollback-trace", "lost-step", "duplicate-step", "phantom-step", "reject-while-idle",
    "accepted-while-busy", "unexpected-reject", "request-error",
)


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    thread: str
    runs: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        runs = ", ".join(self.runs) if self.runs else "-"
        return f"[{self.rule}] thread {self.thread} (runs {runs}): {self.message}"


def check(history: History) -> list[Violation]:
    """Every violation in the history, thread by thread."""
    found: list[Violation] = []
    for thread, (ops, steps) in history.by_thread().items():
        found.extend(ThreadCheck(thread, ops, steps, history).run())
    return found


class ThreadCheck:
    def __init__(self, thread: str, ops: list[Op], steps: list[StepEvent], history: History) -> None:
        self.thread = thread
        self.ops = ops
        self.creates = [op for op in ops if op.kind == "create"]
        self.accepted = {op.run: op for op in self.creates if op.result == "accepted" and op.run}
        self.runs = executions(steps)
        self.status = {run: history.final_status.get(run) for run in self.accepted}
        self.done = history.final_done.get(thread)
        self.terminal_seen = history.terminal_seen
        self.found: list[Violation] = []

    def violation(self, rule: str, runs: tuple[str, ...], message: str) -> None:
        self.found.append(Violation(rule=rule, thread=self.thread, runs=runs, message=message))

    def run(self) -> list[Violation]:
        self.check_requests()
        self.check_execution()
        self.check_statuses()
        self.check_order()
        self.check_final_state()
        self.check_rejects()
        return self.found

    # --- helpers ----------------------------------------------------------------------------------

    def _stoppers(self, victim: Op, actions: tuple[str, ...]) -> list[Op]:
        """Accepted requests that could have stopped `victim`: a later interrupt/rollback on this
        thread (one that had not already been answered before the victim was sent)."""
        return [
            op
            for op in self.creates
            if op.result == "accepted" and op.run != victim.run and op.strategy in actions
            and op.t_resp > victim.t_send
        ]

    # --- rules ------------------------------------------------------------------------------------

    def check_requests(self) -> None:
        for op in self.ops:
            if op.result == "error":
                self.violation("request-error", (op.run,) if op.run else (), f"{op.kind} failed: {op.detail}")
            elif op.kind == "create" and op.result == "rejected" and op.strategy != "reject":
                self.violation("unexpected-reject", (), f"a {op.strategy!r} request was rejected: {op.detail}")

    def check_execution(self) -> None:
        previous: RunExecution | None = None
        for run in self.runs.values():
            if run.run not in self.accepted:
                self.violation("unknown-run", (run.run,), "the graph executed a run that no create accepted")
            for step in sorted(run.started):
                if step not in run.ended and step not in run.cancelled:
                    self.violation("unfinished-step", (run.run,), f"step {step} started and never ended nor was cancelled")
            if run.repeated:
                self.violation("repeated-step", (run.run,), f"steps {sorted(set(run.repeated))} executed more than once")
            if previous is not None and run.first < previous.last:
                status = self.status.get(previous.run)
                late = [s for s, t in {**previous.started, **previous.ended}.items() if t > run.first]
                if status in ("interrupted", DELETED):
                    self.violation(
                        "step-after-successor", (previous.run, run.run),
                        f"{previous.run} ({status}) was still executing (steps {sorted(late)}) "
                        f"{previous.last - run.first:.4f}s after its successor {run.run} began",
                    )
                else:
                    self.violation(
                        "concurrent-runs", (previous.run, run.run),
                        f"{run.run} began while {previous.run} was executing ({previous.last - run.first:.4f}s overlap)",
                    )
            if previous is None or run.last > previous.last:
                previous = run

    def check_statuses(self) -> None:
        for run_id, op in self.accepted.items():
            status = self.status.get(run_id)
            executed = self.runs.get(run_id)
            if status == DELETED:
                if not self._stoppers(op, ("rollback",)):
                    self.violation("run-vanished", (run_id,), "the run is gone (404) but no later rollback was accepted")
            elif status not in TERMINAL:
                self.violation("not-terminal", (run_id,), f"accepted run ended the test {status or 'unread'}")
            elif status == "interrupted" and not self._stoppers(op, ("interrupt", "rollback")):
                self.violation("stopped-without-cause", (run_id,), "interrupted, but no later interrupt or rollback was accepted")
            elif status == "error":
                self.violation("run-error", (run_id,), "the run ended in error")
            elif status == "success" and op.steps:
                missing = [i for i in range(op.steps) if executed is None or i not in executed.ended]
                if missing:
                    self.violation("incomplete-run", (run_id,), f"ended success without completing steps {missing}")

    def check_order(self) -> None:
        ran = [op for op in self.accepted.values() if op.run in self.runs]
        for a in ran:
            for b in ran:
                if a.t_resp < b.t_send and self.runs[b.run].first < self.runs[a.run].first:  # type: ignore[index]
                    self.violation(
                        "enqueue-order", (a.run, b.run),  # type: ignore[arg-type]
                        f"{b.run} was accepted after {a.run} but started before it",
                    )

    def check_final_state(self) -> None:
        if self.done is None:
            return
        counts = Counter(self.done)
        for entry, n in counts.items():
            if n > 1:
                self.violation("duplicate-step", (entry.split(":")[0],), f"{entry!r} is in the final state {n} times")
        present = set(counts)
        for entry in present:
            run_id, _, step = entry.rpartition(":")
            executed = self.runs.get(run_id)
            if self.status.get(run_id) == DELETED:
                self.violation("rollback-trace", (run_id,), f"rolled-back run left {entry!r} in the final state")
            elif executed is None or not step.isdigit() or int(step) not in executed.ended:
                self.violation("phantom-step", (run_id,), f"{entry!r} is in the final state but that step never completed")
        for run_id, executed in self.runs.items():
            status = self.status.get(run_id)
            if status == DELETED or run_id not in self.accepted:
                continue
            # A completed step is surely in the state once the run's next step has started, or the run
            # succeeded; the last completed step of an interrupted run may or may not have been saved.
            last_started = max(executed.started)
            must = [s for s in executed.ended if status == "success" or s < last_started]
            lost = [s for s in sorted(must) if f"{run_id}:{s}" not in present]
            if lost:
                self.violation("lost-step", (run_id,), f"outputs of completed steps {lost} are missing from the final state")

    def check_rejects(self) -> None:
        for op in self.creates:
            if op.strategy != "reject":
                continue
            others = [o for o in self.accepted.values() if o.run != op.run]
            if op.result == "rejected":
                could_be_active = [
                    o for o in others
                    if o.t_send < op.t_resp and self.terminal_seen.get(o.run, math.inf) > op.t_send  # type: ignore[arg-type]
                ]
                if not could_be_active:
                    self.violation("reject-while-idle", (), "rejected (409) while no other run of the thread could have been active")
            elif op.result == "accepted":
                for o in others:
                    executed = self.runs.get(o.run)  # type: ignore[arg-type]
                    if executed is None:
                        continue
                    for step, start in executed.started.items():
                        end = executed.ended.get(step, executed.cancelled.get(step, math.inf))
                        if start < op.t_send and end > op.t_resp:
                            self.violation(
                                "accepted-while-busy", (op.run, o.run),  # type: ignore[arg-type]
                                f"accepted with 'reject' while {o.run} was executing step {step}",
                            )
                            break
                    else:
                        continue
                    break
