"""Where a run's time goes under the load-test harness, per storage backend: a `switchboard serve`
with timing probes (this module, run as the server: `--serve`) takes the 40-thread harness
(`--threads 40 --runs-per-thread 10`), then the phases of each accepted run
(from `Operations.submit_run` to its first step starting, split where the thread actor and the
driver take over; a run queued behind another waits in "reply -> driver") and the durations of the storage calls on the way are printed (ms, p50/p90).
Run: `.venv/bin/python -m tests.bench_phases memory|sqlite|postgres` (postgres: a scratch schema of
the test database, dropped at the end)."""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

DSN = os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HARNESS = ["--threads", "40", "--runs-per-thread", "10"]

# --- the probed server ---------------------------------------------------------------------------

durations: dict[str, list[float]] = collections.defaultdict(list)
phases: dict[str, dict[str, float]] = collections.defaultdict(dict)


def timed(label: str, fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            durations[label].append((time.perf_counter() - t0) * 1e3)

    return call


def atimed(label: str, fn: Any) -> Any:
    async def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            durations[label].append((time.perf_counter() - t0) * 1e3)

    return call


def install_probes() -> None:
    from actors import operations
    from actors.runs import driver, thread
    from actors.storage import group_commit, postgres_writer, record_storage, sqlite_checkpointer

    def at(name: str, run_id: str) -> None:
        phases[run_id][name] = time.time()  # the journal's clock

    submit = operations.Operations.submit_run
    operations.Operations.submit_run = lambda self, run, **kw: (at("submit", run.run_id), submit(self, run, **kw))[1]
    create = thread.ThreadActor._create_run

    def create_run(self: Any, msg: Any) -> None:
        at("actor", msg.run.run_id)
        create(self, msg)
        at("replied", msg.run.run_id)

    thread.ThreadActor._create_run = create_run
    main = driver.RunDriver._main

    async def driver_main(self: Any) -> Any:
        at("driver", self.job.run_id)
        return await main(self)

    driver.RunDriver._main = driver_main
    for name in ("start_run", "accept_run", "end_run", "get_assistant"):
        setattr(record_storage.RecordStorage, name, timed(f"storage.{name}", getattr(record_storage.RecordStorage, name)))
    for saver in (sqlite_checkpointer.GroupCommitSqliteSaver, postgres_writer.GroupCommitPostgresSaver):
        for name in ("aget_tuple", "aput", "aput_writes"):
            setattr(saver, name, atimed(f"checkpoint.{name}", getattr(saver, name)))
    serve = group_commit.GroupCommitWriter._serve

    def writer_serve(self: Any) -> None:  # each batch's duration and size, per writer thread
        run_batch = self._run_batch

        def batch(calls: list[Any]) -> None:
            durations[f"writer {self._thread.name}: batch size"].append(len(calls))
            cpu = time.thread_time()
            timed(f"writer {self._thread.name}: batch", run_batch)(calls)
            # its own CPU time: the rest of the batch's wall time it waited (for the GIL, a CPU, the database)
            durations[f"writer {self._thread.name}: batch CPU"].append((time.thread_time() - cpu) * 1e3)

        self._run_batch = batch
        serve(self)

    group_commit.GroupCommitWriter._serve = writer_serve


def dump_forever(path: str) -> None:
    while True:
        time.sleep(0.5)
        with open(path + ".tmp", "w") as out:
            json.dump({"durations": dict(durations), "phases": dict(phases)}, out)
        os.replace(path + ".tmp", path)


def serve(argv: list[str]) -> int:
    if os.environ.get("SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["SWITCH_INTERVAL"]))
    install_probes()
    threading.Thread(target=dump_forever, args=(os.environ["SWITCHBOARD_PROBES"],), daemon=True).start()
    from server.cli import main

    return main(argv)


# --- the driver ----------------------------------------------------------------------------------


def _q(xs: list[float], f: float) -> float:
    xs = sorted(xs)
    return xs[int(f * (len(xs) - 1))] if xs else float("nan")


def measure(storage: str) -> None:
    import psycopg

    import loadtest.targets as targets

    probes = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    os.environ["SWITCHBOARD_PROBES"] = probes
    popen = subprocess.Popen

    def probed(cmd: list[str], *args: Any, **kwargs: Any) -> Any:  # the server, as this module
        if cmd[:4] == [sys.executable, "-m", "server.cli", "serve"]:
            cmd = [sys.executable, "-m", "tests.bench_phases", "--serve", *cmd[3:]]
        return popen(cmd, *args, **kwargs)

    targets.subprocess.Popen = probed  # type: ignore[attr-defined]
    dsn, schema = None, None
    if storage == "postgres":
        schema = "phases_" + uuid.uuid4().hex[:8]
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        dsn = f"{DSN}?options=-csearch_path%3D{schema}"
    try:
        with targets.ServerProcess("switchboard", storage=storage, database_url=dsn) as server:
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                subprocess.run([sys.executable, "-m", "server.cli", "loadtest", "--url", server.url, "--journal", str(server.journal),
                                *HARNESS, "--report", report.name, "--no-progress"], capture_output=True, check=False)
                data = json.loads(open(report.name).read())
            time.sleep(1.0)  # the probes' last dump
            journal = [json.loads(line) for line in open(server.journal)]
    finally:
        if schema:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    seen = json.loads(open(probes).read())
    os.unlink(probes)
    first: dict[str, float] = {}
    for event in journal:
        if event["event"] == "start":
            first.setdefault(event["run"], event["t"])
    spans = {"submit -> thread actor": ("submit", "actor"), "thread actor (store, reply)": ("actor", "replied"),
             "reply -> driver": ("replied", "driver"), "driver -> first step": ("driver", "first"),
             "submit -> first step": ("submit", "first")}
    rows: dict[str, list[float]] = {name: [] for name in spans}
    for run_id, marks in seen["phases"].items():
        if run_id not in first or not {"submit", "actor", "replied", "driver"} <= set(marks):
            continue
        marks = {**marks, "first": first[run_id]}
        for name, (a, b) in spans.items():
            rows[name].append((marks[b] - marks[a]) * 1e3)
    latency = {k: round(v.get("p50_ms") or 0) for k, v in data["latency"].items()}
    print(f"{storage}: {data['throughput_runs_per_s']:.0f} runs/s; harness p50 (ms): {latency}")
    print("phases of every accepted run (one queued behind another run waits in 'reply -> driver'):")
    for name, xs in rows.items():
        if xs:
            print(f"  {name:30s} n={len(xs):4d}  p50 {statistics.median(xs):7.2f}  p90 {_q(xs, 0.9):7.2f}")
    print("calls (ms; batch size in calls):")
    for name, xs in sorted(seen["durations"].items()):
        print(f"  {name:40s} n={len(xs):5d}  p50 {statistics.median(xs):7.2f}  p90 {_q(xs, 0.9):7.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(sys.argv[2:]))
    measure(sys.argv[1] if len(sys.argv) > 1 else "sqlite")
