"""Storage backends side by side (issue 14): switchboard over HTTP on memory, SQLite and PostgreSQL
storage, in one run, in interleaved rounds (this machine is shared: a burst of load should hit every
backend alike). Two measurements:

- the load-test harness, `switchboard loadtest --serve --storage X --threads 40 --runs-per-thread 10`
  (3 steps of 20 ms, the default mix): runs/s, first step after create p50, join lag p50,
  interrupt -> successor p50; one harness run per backend and round, medians over the rounds;
- create+join of a 1-step run on a fresh thread, against one server per backend kept alive
  throughout, in rounds of `create_join // rounds` each.

PostgreSQL gets a fresh schema of `--database-url` (default: SWITCHBOARD_BENCH_DATABASE_URL, or the
test database `postgresql://postgres@127.0.0.1:5432/test`); it is skipped when unreachable.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .targets import ServerProcess

HARNESS = ["--threads", "40", "--runs-per-thread", "10", "--steps", "3", "--step-duration", "0.02", "--no-progress"]
FIGURES = {
    "runs_per_s": ("runs/s (harness, 40 threads × 10 runs)", "{:.0f}"),
    "first_step_p50_ms": ("first step after create p50 (ms)", "{:.0f}"),
    "join_lag_p50_ms": ("join lag p50 (ms)", "{:.0f}"),
    "interrupt_to_successor_p50_ms": ("interrupt → successor p50 (ms)", "{:.0f}"),
    "create_join_p50_ms": ("HTTP create+join, fresh thread, p50 (ms)", "{:.2f}"),
}
TARGETS = {"runs_per_s": (">=", 0.9), "first_step_p50_ms": ("<=", 1.5), "interrupt_to_successor_p50_ms": ("<=", 1.5),
           "create_join_p50_ms": ("<=", 1.3)}
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


SCHEMAS: list[str] = []
"""Scratch schemas made by this run, dropped at its end."""


def scratch_schema(url: str) -> str | None:
    """A fresh schema on the database, as a URL selecting it; None if the database is unreachable."""
    try:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        SCHEMAS.append(name)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: the backend is skipped, and said so
        print(f"PostgreSQL at {url} unreachable ({type(exc).__name__}): skipped", file=sys.stderr)
        return None
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{name}"


def commit_latency(url: str, trials: int = 300) -> dict[str, float]:
    """What one commit costs on this PostgreSQL (a one-row insert in autocommit): p50/p90 in ms, with
    the server's flush (`synchronous_commit=on`, the default we keep) and without, and a bare round
    trip - the floor under each of the sequential commits a run makes."""
    import psycopg

    def timed(conn: Any, sql: str) -> list[float]:
        out = []
        for _ in range(trials):
            t0 = time.perf_counter()
            conn.execute(sql)
            out.append((time.perf_counter() - t0) * 1000)
        return sorted(out)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_commit (k int)")
        flushed = timed(conn, "INSERT INTO bench_commit VALUES (1)")
        conn.execute("SET synchronous_commit = off")
        unflushed = timed(conn, "INSERT INTO bench_commit VALUES (1)")
        trip = timed(conn, "SELECT 1")
        conn.execute("DROP TABLE bench_commit")
    q = lambda xs, f: xs[int(f * (len(xs) - 1))]  # noqa: E731
    return {"commit_p50_ms": q(flushed, 0.5), "commit_p90_ms": q(flushed, 0.9), "unflushed_p50_ms": q(unflushed, 0.5),
            "round_trip_p50_ms": q(trip, 0.5)}


def harness_once(storage: str, database_url: str | None) -> dict[str, float]:
    """One harness run against a fresh server on this backend."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        cmd = [sys.executable, "-m", "server.cli", "loadtest", "--serve", "--storage", storage, *HARNESS, "--report", report.name]
        if database_url:
            cmd += ["--database-url", database_url]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(Path(__file__).resolve().parent.parent), timeout=600)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"harness on {storage} failed ({done.returncode}): {done.stderr[-2000:]}")
        data = json.loads(Path(report.name).read_text())
    lat = data["latency"]
    return {
        "runs_per_s": data["throughput_runs_per_s"],
        # None when no sample: e.g. no interrupt found its predecessor already running
        "first_step_p50_ms": lat.get("first_step", {}).get("p50_ms"),
        "join_lag_p50_ms": lat.get("join_lag", {}).get("p50_ms"),
        "interrupt_to_successor_p50_ms": lat.get("interrupt_to_successor", {}).get("p50_ms"),
        "violations": len(data["violations"]),
    }


async def create_joins(targets: dict[str, Any], trials: int, rounds: int) -> dict[str, list[float]]:
    from .bench import create_join

    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            samples[name] += await create_join(target, max(1, trials // rounds))
    return samples


def measure(rounds: int = 3, create_join_trials: int = 300, database_url: str | None = None) -> dict[str, Any]:
    url = database_url or os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        return _measure(rounds, create_join_trials, url)
    finally:
        drop_schemas(url)


def drop_schemas(url: str) -> None:
    if not SCHEMAS:
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        while SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMAS.pop()} CASCADE")


def _measure(rounds: int, create_join_trials: int, url: str) -> dict[str, Any]:
    backends: dict[str, str | None] = {"memory": None, "sqlite": None}
    pg = scratch_schema(url)
    if pg is not None:
        backends["postgres"] = pg
    harness: dict[str, list[dict[str, float]]] = {name: [] for name in backends}
    for r in range(rounds):
        for name in backends:
            print(f"storage bench: harness on {name}, round {r + 1}/{rounds} ...", file=sys.stderr)
            # Each harness run on PostgreSQL in a schema of its own: the runs stay in it.
            harness[name].append(harness_once(name, scratch_schema(url) if name == "postgres" else None))
    print("storage bench: HTTP create+join, interleaved ...", file=sys.stderr)
    servers = {name: ServerProcess("switchboard", storage=name, database_url=dsn) for name, dsn in backends.items()}
    try:
        targets = {name: server.__enter__().target() for name, server in servers.items()}
        samples = asyncio.run(_create_joins_closing(targets, create_join_trials, rounds))
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
    out: dict[str, Any] = {"rounds": rounds, "backends": {}}
    if pg is not None:
        out["postgres_commit"] = commit_latency(pg)
    for name in backends:
        runs = harness[name]
        figures = {key: _median(run[key] for run in runs) for key in FIGURES if key != "create_join_p50_ms"}
        figures["create_join_p50_ms"] = statistics.median(samples[name]) * 1000
        figures["violations"] = sum(run["violations"] for run in runs)
        figures["rounds"] = runs
        out["backends"][name] = figures
    return out


def _median(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


async def _create_joins_closing(targets: dict[str, Any], trials: int, rounds: int) -> dict[str, list[float]]:
    try:
        return await create_joins(targets, trials, rounds)
    finally:
        for target in targets.values():
            await target.aclose()


def _meets(value: float | None, memory: float | None, op: str, factor: float) -> bool:
    if value is None or not memory:
        return False  # no sample is no proof
    return value / memory >= factor if op == ">=" else value / memory <= factor


def render(results: dict[str, Any]) -> str:
    backends = results["backends"]
    names = [n for n in ("memory", "sqlite", "postgres") if n in backends]
    titles = {"memory": "memory", "sqlite": "SQLite", "postgres": "PostgreSQL"}
    memory = backends.get("memory")
    lines = [
        f"Storage backends over HTTP, medians of {results['rounds']} interleaved rounds "
        "(`switchboard loadtest --serve --storage X --threads 40 --runs-per-thread 10`, 3 steps of 20 ms; "
        "create+join: one server per backend, alive throughout):",
        "",
        "| figure | " + " | ".join(titles[n] for n in names) + " | target |",
        "|---|" + "---:|" * len(names) + "---|",
    ]
    for key, (label, fmt) in FIGURES.items():
        cells = []
        for n in names:
            if backends[n][key] is None:
                cells.append("- (no sample)")
                continue
            cell = fmt.format(backends[n][key])
            if n != "memory" and memory and memory[key]:
                cell += f" ({backends[n][key] / memory[key]:.2f}×)"
            cells.append(cell)
        target = TARGETS.get(key)
        goal = f"{target[0]} {target[1]}× memory" if target else "-"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    lines.append(f"| checker violations (all rounds) | " + " | ".join(str(backends[n]["violations"]) for n in names) + " | 0 |")
    if memory:
        verdicts = []
        for n in names[1:]:
            missed = [FIGURES[k][0] for k, (op, x) in TARGETS.items() if not _meets(backends[n][k], memory[k], op, x)]
            verdicts.append(f"{titles[n]}: " + ("every target met" if not missed else "missed: " + "; ".join(missed)))
        lines += ["", "Against the targets (ratio to memory, this run): " + ". ".join(verdicts) + "."]
    per_round = []
    for n in names:
        rps = ", ".join(f"{run['runs_per_s']:.0f}" for run in backends[n]["rounds"])
        per_round.append(f"{titles[n]} {rps}")
    lines.append("Harness runs/s per round: " + "; ".join(per_round) + ".")
    commit = results.get("postgres_commit")
    if commit:
        lines.append(
            f"PostgreSQL here: one commit (one-row insert) p50 {commit['commit_p50_ms']:.2f} ms, p90 {commit['commit_p90_ms']:.2f} ms; "
            f"without the flush (`synchronous_commit=off`, not used) {commit['unflushed_p50_ms']:.2f} ms; a round trip "
            f"{commit['round_trip_p50_ms']:.2f} ms."
        )
    return "\n".join(lines)
