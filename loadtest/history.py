"""The history of a load test: every operation the harness sent (with its response) and every step the
graph executed (from the journal), plus what the harness read at the end (run statuses, thread states).

Times are wall-clock seconds (`time.time()`), comparable between the harness and a server process on the
same machine. The checker (`checker.py`) and the report (`report.py`) read only this.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import msgspec

OpKind = Literal["create", "join"]
OpResult = Literal["accepted", "rejected", "ok", "not_found", "error"]
StepEventKind = Literal["start", "end", "cancel"]
DELETED = "deleted"
"""The final status of a run the server no longer knows (404): rolled back."""
TERMINAL = frozenset({"success", "error", "interrupted", "timeout"})


class Op(msgspec.Struct, kw_only=True):
    """One request and its response."""

    kind: OpKind
    thread: str
    t_send: float
    t_resp: float
    result: OpResult
    run: str | None = None
    """The run created (accepted creates) or joined."""
    strategy: str | None = None
    steps: int | None = None
    """Steps the run was asked to execute (creates)."""
    detail: str | None = None
    """Error text, for `rejected` and `error`."""
    streamed: bool = False
    """Created with `runs.stream` (the client read the run's events to their end)."""
    t_first_event: float | None = None
    """Streamed runs: when the first event after `metadata` arrived."""
    v2: bool = False
    """Created with protocol v2's `run.start` and read on the thread's v2 event stream."""

    @property
    def latency(self) -> float:
        return self.t_resp - self.t_send


class StepEvent(msgspec.Struct, kw_only=True):
    """One journal line of the benchmark graph."""

    thread: str
    run: str
    step: int
    event: StepEventKind
    t: float
    pid: int | None = None
    """The process that executed the step (several serve one cluster)."""


class History(msgspec.Struct, kw_only=True):
    ops: list[Op] = msgspec.field(default_factory=list)
    steps: list[StepEvent] = msgspec.field(default_factory=list)
    final_status: dict[str, str] = msgspec.field(default_factory=dict)
    """run id -> status read after the workload drained (`deleted` for a 404)."""
    final_done: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """thread id -> the `done` list of its final state."""
    terminal_seen: dict[str, float] = msgspec.field(default_factory=dict)
    """run id -> the earliest time the harness saw it terminal (join returned, or the final read)."""
    meta: dict[str, Any] = msgspec.field(default_factory=dict)

    # --- recording --------------------------------------------------------------------------------

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        if op.kind == "join" and op.result in ("ok", "not_found") and op.run is not None:
            self.saw_terminal(op.run, op.t_resp)
        return op

    def saw_terminal(self, run_id: str, t: float) -> None:
        if run_id not in self.terminal_seen or t < self.terminal_seen[run_id]:
            self.terminal_seen[run_id] = t

    def load_journal(self, path: str | Path, threads: set[str] | None = None) -> None:
        """Read the graph's journal (only lines of `threads`, if given)."""
        with open(path, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                event = msgspec.json.decode(line, type=StepEvent)
                if threads is None or event.thread in threads:
                    self.steps.append(event)
        self.steps.sort(key=lambda e: e.t)

    # --- views ------------------------------------------------------------------------------------

    def threads(self) -> list[str]:
        seen = dict.fromkeys(op.thread for op in self.ops)
        seen.update(dict.fromkeys(e.thread for e in self.steps))
        return list(seen)

    def creates(self) -> list[Op]:
        return [op for op in self.ops if op.kind == "create"]

    def accepted(self) -> list[Op]:
        return [op for op in self.ops if op.kind == "create" and op.result == "accepted"]

    def by_thread(self) -> dict[str, tuple[list[Op], list[StepEvent]]]:
        ops: dict[str, list[Op]] = defaultdict(list)
        steps: dict[str, list[StepEvent]] = defaultdict(list)
        for op in self.ops:
            ops[op.thread].append(op)
        for event in self.steps:
            steps[event.thread].append(event)
        return {t: (ops.get(t, []), steps.get(t, [])) for t in self.threads()}

    # --- files ------------------------------------------------------------------------------------

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> History:
        return msgspec.json.decode(data, type=cls)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_json())


class RunExecution(msgspec.Struct, kw_only=True):
    """What the journal says one run executed."""

    run: str
    started: dict[int, float] = msgspec.field(default_factory=dict)
    ended: dict[int, float] = msgspec.field(default_factory=dict)
    cancelled: dict[int, float] = msgspec.field(default_factory=dict)
    repeated: list[int] = msgspec.field(default_factory=list)
    """Steps started more than once by this run."""

    @property
    def first(self) -> float:
        return min(self.started.values())

    @property
    def last(self) -> float:
        return max([*self.started.values(), *self.ended.values(), *self.cancelled.values()])


def executions(steps: list[StepEvent]) -> dict[str, RunExecution]:
    """Per run id, the steps it started, ended and had cancelled, in order of first start."""
    runs: dict[str, RunExecution] = {}
    for e in steps:
        run = runs.setdefault(e.run, RunExecution(run=e.run))
        target = {"start": run.started, "end": run.ended, "cancel": run.cancelled}[e.event]
        if e.event == "start" and e.step in run.started:
            run.repeated.append(e.step)
        target.setdefault(e.step, e.t)
    return dict(sorted(((k, v) for k, v in runs.items() if v.started), key=lambda kv: kv[1].first))
