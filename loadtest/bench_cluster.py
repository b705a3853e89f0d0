"""Cluster benchmarks (issue 12): switchboard processes on one PostgreSQL database with Redis, on this
machine, in one run. `./dev bench --only cluster` writes them into docs/benchmarks.md (between the
`bench-cluster:begin`/`end` markers).

- runs/s for 1 and 2 processes: 50 users, each create+join of 1-step runs on its own thread, every
  request to the next process in turn (so half of the thread-scoped requests are forwarded to the
  owner), in interleaved rounds with both clusters alive; with the CPU the load generator itself
  used (this process: user + system time over wall time, in cores) and the servers'. A third column:
  2 processes with each thread's requests all sent to one of them (by the thread id's hash, as a
  load balancer hashing on the thread would), so nothing is forwarded;
- interrupt -> successor p50 when the interrupted run executes in another process: a thread's long run
  is started through process A (which takes the thread), the `interrupt` run is sent to process B
  (which forwards it); from sending it to the successor's first step start (journal), and the
  journal's pid proves where each ran. Interleaved with two controls: the interrupt sent to A itself,
  and the same on one process on PostgreSQL without cluster mode;
- kill -9 -> the first pending run of an orphaned thread starting in another process: process A owns
  a thread with a running run and an enqueued one; A is killed; the time until the enqueued run's
  first step starts in B (bounded by the lease, `--lease-seconds`, default 10 s);
- PostgreSQL connections each process holds (established TCP connections to the database's port,
  read from /proc), idle after start and after the throughput load.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from .bench_storage import DEFAULT_DATABASE_URL, drop_schemas, scratch_schema
from .spread import SpreadTarget
from .targets import HttpTarget, ServerProcess, new_journal

ONE_STEP = {"steps": 1, "delay": 0.0}
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class BenchCluster:
    """N switchboard processes on a fresh schema, one Redis, one journal (the benchmark graph)."""

    def __init__(self, processes: int, admin_url: str, redis_url: str, journal: Path, lease_seconds: float | None = None) -> None:
        url = scratch_schema(admin_url)
        if url is None:
            raise RuntimeError(f"PostgreSQL at {admin_url} unreachable")
        self.database_url, self.redis_url, self.journal = url, redis_url, journal
        self.lease = ("--lease-seconds", str(lease_seconds)) if lease_seconds is not None else ()
        self.servers: list[ServerProcess] = []
        for index in range(processes):
            self.add(wait=index == 0)  # the first alone: it creates the tables
        for server in self.servers:
            server.wait_ready()

    def add(self, wait: bool = True) -> ServerProcess:
        server = ServerProcess("switchboard", journal=self.journal, storage="postgres", database_url=self.database_url,
                               extra_args=("--redis-url", self.redis_url, *self.lease))
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def target(self, affinity: bool = False) -> SpreadTarget:
        return SpreadTarget([HttpTarget(s.url, self.journal) for s in self.servers], name=f"{len(self.servers)} processes",
                            affinity=affinity)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


# --- what the processes use ----------------------------------------------------------------------


def postgres_connections(pid: int, port: int) -> int:
    """Established TCP connections of process `pid` to `port` (PostgreSQL's), from /proc."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return 0
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if fields[3] == "01" and remote_port == port and fields[9] in inodes:  # 01: ESTABLISHED
                count += 1
    return count


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the measurements ----------------------------------------------------------------------------


async def throughput(target: SpreadTarget, users: int, runs_each: int) -> float:
    from .bench import throughput as closed_loop

    return await closed_loop(target, users, runs_each)


def journal_lines(path: Path, since: int) -> tuple[list[dict[str, Any]], int]:
    with open(path, "rb") as f:
        f.seek(since)
        data = f.read()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines()], since + len(complete)


async def first_start(journal: Path, run_id: str, timeout: float) -> dict[str, Any]:
    """The journal line of `run_id`'s first step start (polled; the deadline bounds it)."""
    offset, deadline = 0, time.monotonic() + timeout
    while True:
        lines, offset = journal_lines(journal, offset)
        for line in lines:
            if line["run"] == run_id and line["event"] == "start":
                return line
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} did not start within {timeout}s")
        await asyncio.sleep(0.001)


async def cross_interrupt(cluster: BenchCluster, trials: int, plain: ServerProcess | None = None) -> dict[str, Any]:
    """Long run through A, `interrupt` through B (cross), through A (same: the control) and, when
    given, on a `plain` process (PostgreSQL without cluster mode), interleaved: send -> successor's
    first step (s), and where each ran (journal pids)."""
    a, b = (HttpTarget(s.url, cluster.journal) for s in cluster.servers[:2])
    kinds = [("cross", a, b), ("same", a, a)]
    if plain is not None:
        solo = HttpTarget(plain.url, cluster.journal)
        kinds.append(("plain", solo, solo))
    samples: dict[str, list[float]] = {kind: [] for kind, _, _ in kinds}
    placements = []
    try:
        for _ in range(trials):
            for kind, owner, via in kinds:
                thread = await owner.create_thread()
                long_run = await owner.create_run(thread, "enqueue", {"steps": 1, "delay": 30.0})
                first = await first_start(cluster.journal, long_run, 30)
                t0 = time.time()
                successor = await via.create_run(thread, "interrupt", ONE_STEP)
                started = await first_start(cluster.journal, successor, 30)
                samples[kind].append(started["t"] - t0)
                if kind == "cross":
                    placements.append((first["pid"], started["pid"]))
                await via.join(thread, successor)
    finally:
        for _, owner, via in kinds:
            await owner.aclose()
            await via.aclose()
    a_pid = cluster.servers[0].proc.pid
    p50 = {kind: statistics.median(values) * 1000 for kind, values in samples.items()}
    return {
        "p50_ms": p50["cross"], "samples_ms": [x * 1000 for x in samples["cross"]],
        "same_process_p50_ms": p50["same"], "plain_p50_ms": p50.get("plain"),
        "ran_in_a": sum(1 for first, succ in placements if first == a_pid and succ == a_pid), "trials": trials,
    }


async def kill_takeover(cluster: BenchCluster) -> dict[str, Any]:
    """A owns a thread (a running run, an enqueued one); kill -9 A; until the enqueued run starts elsewhere."""
    victim = cluster.servers[0]
    a = HttpTarget(victim.url, cluster.journal)
    try:
        thread = await a.create_thread()
        running = await a.create_run(thread, "enqueue", {"steps": 1, "delay": 60.0})
        await first_start(cluster.journal, running, 30)
        pending = await a.create_run(thread, "enqueue", ONE_STEP)
    finally:
        await a.aclose()
    t0 = time.time()
    victim.proc.kill()
    victim.proc.wait(timeout=30)
    started = await first_start(cluster.journal, pending, 120)
    survivor_pids = {s.proc.pid for s in cluster.servers[1:]}
    cluster.servers.remove(victim)
    victim.stop()
    cluster.add()  # back to two processes for the next trial
    return {"seconds": started["t"] - t0, "elsewhere": started["pid"] in survivor_pids}


def measure(database_url: str | None = None, redis_url: str | None = None, rounds: int = 3, users: int = 50,
            runs_each: int = 20, interrupt_trials: int = 20, kill_trials: int = 3) -> dict[str, Any]:
    admin = database_url or os.environ.get("SWITCHBOARD_BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis = redis_url or os.environ.get("SWITCHBOARD_BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    pg_port = urllib.parse.urlparse(admin).port or 5432
    journal = new_journal()
    clusters: dict[int, BenchCluster] = {}
    try:
        for n in (1, 2):
            clusters[n] = BenchCluster(n, admin, redis, journal)
        idle = {n: [postgres_connections(s.proc.pid, pg_port) for s in c.servers] for n, c in clusters.items()}
        samples: dict[str, list[dict[str, float]]] = {"1": [], "2": [], "2-affinity": []}
        for r in range(rounds):
            for key in samples:
                print(f"cluster bench: runs/s, {key} process(es), round {r + 1}/{rounds} ...", file=sys.stderr)
                samples[key].append(_throughput_round(clusters[int(key[0])], users, runs_each, affinity=key.endswith("affinity")))
        loaded = {n: [postgres_connections(s.proc.pid, pg_port) for s in c.servers] for n, c in clusters.items()}
        print("cluster bench: interrupt -> successor across processes ...", file=sys.stderr)
        plain_url = scratch_schema(admin)
        with ServerProcess("switchboard", journal=journal, storage="postgres", database_url=plain_url) as plain:
            interrupt = asyncio.run(cross_interrupt(clusters[2], interrupt_trials, plain))
        print("cluster bench: kill -9 -> takeover ...", file=sys.stderr)
        kills = [asyncio.run(kill_takeover(clusters[2])) for _ in range(kill_trials)]
        lease = 10.0
    finally:
        for cluster in clusters.values():
            cluster.stop()
        drop_schemas(admin)
        journal.unlink(missing_ok=True)
    return {
        "rounds": rounds, "users": users, "runs_each": runs_each,
        "throughput": {n: _medians(rows) for n, rows in samples.items()},
        "throughput_rounds": {n: [row["runs_per_s"] for row in rows] for n, rows in samples.items()},
        "interrupt": interrupt, "kill": kills, "lease_seconds": lease,
        "pg_connections": {"idle": idle, "after_load": loaded},
    }


def _throughput_round(cluster: BenchCluster, users: int, runs_each: int, affinity: bool = False) -> dict[str, float]:
    target = cluster.target(affinity)
    servers_cpu = sum(cpu_seconds(s.proc.pid) for s in cluster.servers)
    own_cpu, t0 = own_cpu_seconds(), time.perf_counter()

    async def go() -> float:
        try:
            return await throughput(target, users, runs_each)
        finally:
            await target.aclose()

    runs_per_s = asyncio.run(go())
    wall = time.perf_counter() - t0
    return {
        "runs_per_s": runs_per_s,
        "generator_cpu": (own_cpu_seconds() - own_cpu) / wall,  # cores
        "servers_cpu": (sum(cpu_seconds(s.proc.pid) for s in cluster.servers) - servers_cpu) / wall,
    }


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def render(results: dict[str, Any]) -> str:
    one, two, sticky = (results["throughput"][key] for key in ("1", "2", "2-affinity"))
    interrupt, kills = results["interrupt"], results["kill"]
    kill_s = statistics.median(k["seconds"] for k in kills)
    kill_list = ", ".join(f"{k['seconds']:.1f}" for k in kills)
    conns = results["pg_connections"]
    lines = [
        f"Cluster (PostgreSQL + Redis), medians of {results['rounds']} interleaved rounds: {results['users']} users, "
        f"each create+join of 1-step runs on its own thread, {results['runs_each']} runs each, every request to "
        "the next process in turn.",
        "",
        "| figure | 1 process | 2 processes, round-robin | 2 processes, a thread's requests to one | target |",
        "|---|---:|---:|---:|---|",
        f"| runs/s | {one['runs_per_s']:.0f} | {two['runs_per_s']:.0f} ({two['runs_per_s'] / one['runs_per_s']:.2f}×) | "
        f"{sticky['runs_per_s']:.0f} ({sticky['runs_per_s'] / one['runs_per_s']:.2f}×) | more with 2 |",
        f"| load generator CPU (cores) | {one['generator_cpu']:.2f} | {two['generator_cpu']:.2f} | {sticky['generator_cpu']:.2f} | - |",
        f"| servers' CPU (cores, all processes) | {one['servers_cpu']:.2f} | {two['servers_cpu']:.2f} | {sticky['servers_cpu']:.2f} | - |",
        f"| PostgreSQL connections per process, idle / after the load | "
        f"{'/'.join(map(str, conns['idle'][1]))} / {'/'.join(map(str, conns['after_load'][1]))} | "
        f"{' + '.join(map(str, conns['idle'][2]))} / {' + '.join(map(str, conns['after_load'][2]))} | (same processes) | see docs/deploy.md |",
        "",
        f"- interrupt → successor, the interrupted run executing in the other process: p50 "
        f"**{interrupt['p50_ms']:.1f} ms** over {interrupt['trials']} trials (target ≤ 20 ms); "
        f"both runs executed in the owner in {interrupt['ran_in_a']} of {interrupt['trials']} (journal pids). "
        f"Interleaved with it, the controls: both requests to the owner p50 {interrupt['same_process_p50_ms']:.1f} ms; "
        f"one process on the same PostgreSQL without cluster mode p50 {interrupt['plain_p50_ms']:.1f} ms.",
        f"- kill -9 of the owner → the orphaned thread's first pending run starting in the other process: "
        f"median **{kill_s:.1f} s** over {len(kills)} trials ({kill_list} s; "
        f"lease {results['lease_seconds']:g} s, the default); elsewhere in "
        f"{sum(1 for k in kills if k['elsewhere'])} of {len(kills)}.",
        "- runs/s per round: " + "; ".join(
            f"{key} {', '.join(f'{x:.0f}' for x in xs)}" for key, xs in results["throughput_rounds"].items()) + ".",
    ]
    return "\n".join(lines)


BEGIN, END = "<!-- bench-cluster:begin -->", "<!-- bench-cluster:end -->"


def main(database_url: str | None, redis_url: str | None, quick: bool = False, write: bool = True, json_path: str | None = None) -> None:
    from .bench import DOCS, load

    before = load()
    sizes = dict(rounds=2, runs_each=5, interrupt_trials=5, kill_trials=1) if quick else {}
    try:
        results = measure(database_url, redis_url, **sizes)
    except RuntimeError as exc:  # no PostgreSQL here: said so, nothing written
        print(f"cluster bench skipped: {exc}", file=sys.stderr)
        return
    head = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores; load before: "
            f"`{before}`; after: `{load()}`.\nCommand: `python -m loadtest.bench --only cluster"
            f"{' --quick' if quick else ''}`\n\n")
    text = head + render(results)
    print(text)
    if json_path:
        Path(json_path).with_suffix(".cluster.json").write_text(json.dumps(results, indent=2, default=str))
    if write:
        page = DOCS.read_text()
        if BEGIN not in page:
            page += f"\n## Cluster (issue 12)\n\n{BEGIN}\n{END}\n"
        start, rest = page.split(BEGIN, 1)
        DOCS.write_text(f"{start}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}")
