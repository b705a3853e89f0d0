"""Where interrupt -> successor goes, embedded, one at a time, on one backend: a run sleeps in its
step, a run with `multitask_strategy="interrupt"` is created, and probes on the thread actor and
the run driver say when each phase is reached (ms since the create call, medians).
Run: `.venv/bin/python -m tests.bench_interrupt postgres|sqlite|memory [trials]`."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

JOURNAL = Path(tempfile.mkdtemp()) / "journal.jsonl"
os.environ["SWITCHBOARD_LOADTEST_JOURNAL"] = str(JOURNAL)  # before the graph is imported

from actors import ActorSystem, Settings  # noqa: E402
from actors.runs import driver, thread  # noqa: E402
from loadtest.graph import GRAPH_ID, graph  # noqa: E402
from tests.backends import backend_settings  # noqa: E402

probes: dict[str, dict[str, float]] = {}


def mark(name: str, run_id: str) -> None:
    probes.setdefault(run_id, {})[name] = time.perf_counter()


def install_probes() -> None:
    run_ended = thread.ThreadActor._run_ended
    outcome = driver.RunDriver._outcome

    def probed_run_ended(self: Any, run_id: str, result: Any) -> None:
        mark("RunEnded received", run_id)
        run_ended(self, run_id, result)
        mark("end written", run_id)

    async def probed_outcome(self: Any, *, cancelled: bool, error: Any) -> Any:
        mark("driver stopped, reading state", self.job.run_id)
        result = await outcome(self, cancelled=cancelled, error=error)
        mark("state read", self.job.run_id)
        return result

    thread.ThreadActor._run_ended = probed_run_ended  # type: ignore[method-assign]
    driver.RunDriver._outcome = probed_outcome  # type: ignore[method-assign]


def started(run_id: str) -> float | None:
    if not JOURNAL.exists():
        return None
    for line in JOURNAL.read_text().splitlines():
        record = json.loads(line)
        if record["run"] == run_id and record["event"] == "start":
            return record["t"]
    return None


def main(backend: str, trials: int) -> None:
    install_probes()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, backend_settings(backend, Path(tmp)) as fields:
        with ActorSystem({GRAPH_ID: graph}, settings=Settings(**fields)) as system:
            for _ in range(trials):
                tid = system.threads.create()["thread_id"]
                first = system.runs.create(tid, GRAPH_ID, input={"steps": 1, "delay": 30})
                deadline = time.monotonic() + 10
                while started(first["run_id"]) is None and time.monotonic() < deadline:
                    time.sleep(0.002)
                t0, wall0 = time.perf_counter(), time.time()
                second = system.runs.create(tid, GRAPH_ID, input={"steps": 1, "delay": 0}, multitask_strategy="interrupt")
                replied = time.perf_counter()
                system.runs.join(tid, second["run_id"])
                joined = time.perf_counter()
                successor = started(second["run_id"])
                row = {"reply": replied - t0, **{k: v - t0 for k, v in probes.get(first["run_id"], {}).items()}}
                if successor is not None:
                    row["successor's first step"] = successor - wall0
                row["join"] = joined - t0
                rows.append(row)
    for key in rows[0]:
        values = [row[key] * 1000 for row in rows if key in row]
        print(f"{backend:8s} {key:32s} p50 {statistics.median(values):7.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "postgres", int(sys.argv[2]) if len(sys.argv) > 2 else 15)
