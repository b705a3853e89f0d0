"""CPU per run, per storage backend: a `switchboard serve` takes the 40-thread harness (`--threads 40
--runs-per-thread 10`), and this prints the CPU the server process, PostgreSQL's processes and the
harness process used (user + system, from /proc and the harness's rusage), divided by 400 runs,
with the server's context switches per run. On 2 cores shared by server and harness, CPU is what
runs/s is bound by (docs/benchmarks.md, "Fourth pass").
Run: `.venv/bin/python -m tests.bench_cpu memory sqlite postgres` (postgres: a scratch schema of the
test database, dropped at the end)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import uuid

import psycopg

import loadtest.targets as targets

DSN = os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
RUNS = 400
TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int | str) -> tuple[float, float]:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def _switches(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/status") as status:
            total += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
    return total


def _postgres_cpu() -> float:
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().startswith("postgres"):
                total += sum(_cpu(pid))
        except OSError:
            pass
    return total


def measure(storage: str) -> None:
    dsn = schema = None
    if storage == "postgres":
        schema = "cpu_" + uuid.uuid4().hex[:8]
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        dsn = f"{DSN}?options=-csearch_path%3D{schema}"
    try:
        with targets.ServerProcess("switchboard", storage=storage, database_url=dsn) as server:
            pid = server.proc.pid
            (u0, s0), pg0, sw0 = _cpu(pid), _postgres_cpu(), _switches(pid)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with tempfile.NamedTemporaryFile(suffix=".json") as report:
                subprocess.run([sys.executable, "-m", "server.cli", "loadtest", "--url", server.url, "--journal", str(server.journal),
                                "--threads", "40", "--runs-per-thread", "10", "--report", report.name, "--no-progress"],
                               capture_output=True, check=False)
                data = json.loads(open(report.name).read())
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            (u1, s1), pg1, sw1 = _cpu(pid), _postgres_cpu(), _switches(pid)
    finally:
        if schema:
            with psycopg.connect(DSN, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    harness = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # its start-up included
    per = 1e3 / RUNS
    print(f"{storage:8s} {data['throughput_runs_per_s']:4.0f} runs/s; CPU ms per run: server {(u1 - u0 + s1 - s0) * per:.2f} "
          f"(user {(u1 - u0) * per:.2f}, system {(s1 - s0) * per:.2f}), PostgreSQL {(pg1 - pg0) * per:.2f}, "
          f"harness {harness * per:.2f}; server context switches per run {(sw1 - sw0) / RUNS:.0f}")


if __name__ == "__main__":
    for name in sys.argv[1:] or ["memory", "sqlite", "postgres"]:
        measure(name)
