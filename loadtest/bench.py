"""Benchmarks (not a timed test): switchboard against the in-process LangGraph floor and, where
installed, the reference server, on the same machine in one run. `./dev bench` writes the figures into
docs/benchmarks.md (between the `bench:begin`/`bench:end` markers; a subset, e.g. `--only storage`,
between its own `bench-storage:begin`/`:end` markers); see that page for what each figure means and
the targets.

    python -m loadtest.bench [--reference /tmp/ref-venv/bin/langgraph] [--quick] [--no-write]

The reference server is used when `--reference` (or SWITCHBOARD_REFERENCE_LANGGRAPH) names its
`langgraph` binary - installed in a separate venv, never ours - and skipped otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .graph import GRAPH_ID, JOURNAL_ENV, graph
from .targets import EmbeddedTarget, ServerProcess, new_journal

ONE_STEP = {"steps": 1, "delay": 0.0}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DEFAULT_ONLY = "baseline,embedded,embedded-loop,http,reference,memory,storage,cluster"


class BaselineTarget:
    """The floor: the same graph invoked directly (`ainvoke`) with LangGraph's `InMemorySaver`; runs of
    one thread are chained (enqueue) or the running one is cancelled first (interrupt)."""

    name = "in-process LangGraph"

    def __init__(self, journal: Path) -> None:
        from langgraph.checkpoint.memory import InMemorySaver

        self.journal = journal
        self.graph = graph.copy(update={"checkpointer": InMemorySaver()})
        self.tails: dict[str, asyncio.Task[Any]] = {}
        self.tasks: dict[str, asyncio.Task[Any]] = {}

    async def create_thread(self) -> str:
        return str(uuid.uuid4())

    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str:
        run_id = str(uuid.uuid4())
        previous = self.tails.get(thread_id)
        if strategy == "interrupt" and previous is not None:
            previous.cancel()

        async def run() -> Any:
            if previous is not None:
                await asyncio.wait([previous])
            config = {"configurable": {"thread_id": thread_id, "run_id": run_id}}
            return await self.graph.ainvoke(input, config)

        self.tails[thread_id] = self.tasks[run_id] = asyncio.create_task(run())
        return run_id

    async def join(self, thread_id: str, run_id: str) -> Any:
        await asyncio.wait([self.tasks.pop(run_id)])

    async def aclose(self) -> None:
        for task in self.tasks.values():
            task.cancel()


class JournalTail:
    """Reads the journal as it grows: step starts by run id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.starts: dict[str, float] = {}

    def poll(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            event = json.loads(line)
            if event["event"] == "start":
                self.starts.setdefault(event["run"], event["t"])

    async def start_of(self, run_id: str, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if run_id in self.starts:
                return self.starts[run_id]
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not start within {timeout}s")
            await asyncio.sleep(0.001)


# --- the measurements ----------------------------------------------------------------------------


async def create_join(target: Any, trials: int) -> list[float]:
    """Create a 1-step run on a fresh thread and join it; the pair's latency."""
    out = []
    for _ in range(trials):
        thread = await target.create_thread()
        t0 = time.perf_counter()
        run = await target.create_run(thread, "enqueue", ONE_STEP)
        await target.join(thread, run)
        out.append(time.perf_counter() - t0)
    return out


async def throughput(target: Any, threads: int, runs_each: int) -> float:
    """`threads` users, each doing create+join of 1-step runs on its own thread: runs/s."""
    ids = [await target.create_thread() for _ in range(threads)]

    async def user(thread: str) -> None:
        for _ in range(runs_each):
            await target.join(thread, await target.create_run(thread, "enqueue", ONE_STEP))

    t0 = time.perf_counter()
    await asyncio.gather(*(user(t) for t in ids))
    return threads * runs_each / (time.perf_counter() - t0)


async def interrupt_to_successor(target: Any, trials: int) -> list[float]:
    """A run sleeping in a long async step; an `interrupt` request: time from sending it to the new
    run's first step start (from the graph's journal)."""
    tail = JournalTail(target.journal)
    out = []
    for _ in range(trials):
        thread = await target.create_thread()
        long_run = await target.create_run(thread, "enqueue", {"steps": 1, "delay": 30.0})
        await tail.start_of(long_run)
        t0 = time.time()
        successor = await target.create_run(thread, "interrupt", ONE_STEP)
        started = await tail.start_of(successor)
        out.append(started - t0)
        await target.join(thread, successor)
    return out


async def enqueued(target: Any, runs: int, trials: int) -> list[float]:
    """`runs` 1-step runs enqueued back to back on one thread: from the first create to the last join."""
    out = []
    for _ in range(trials):
        thread = await target.create_thread()
        t0 = time.perf_counter()
        ids = [await target.create_run(thread, "enqueue", ONE_STEP) for _ in range(runs)]
        await target.join(thread, ids[-1])
        out.append(time.perf_counter() - t0)
    return out


async def hop_round_trips(trials: int = 3000) -> dict[str, float]:
    """What one cross-thread hand-off costs here: an asyncio caller tells a dispatched actor a message
    that it answers at once, on the thread-actor pool or on the graph loop (p50, microseconds).
    A create+join makes about four such hand-offs that the floor does not."""
    from actors.kernel.dispatch import DispatchedActor, PoolDispatcher
    from actors.kernel.runtime import GraphLoop, wait_future

    class Echo(DispatchedActor):
        def __init__(self, dispatcher: Any) -> None:
            super().__init__()
            self.dispatcher = dispatcher

        def on_receive(self, reply: Any) -> None:
            reply.set_result(None)

    pool, loop = PoolDispatcher(4, "bench-hops"), GraphLoop(2)
    out: dict[str, float] = {}
    try:
        for name, dispatcher in (("pool", pool), ("graph_loop", loop)):
            ref = Echo.start(dispatcher)
            samples = []
            for _ in range(trials):
                reply: concurrent.futures.Future[None] = concurrent.futures.Future()
                t0 = time.perf_counter()
                ref.tell(reply)
                await wait_future(reply)
                samples.append(time.perf_counter() - t0)
            out[name] = p50(samples) * 1e6
            ref.stop()
    finally:
        pool.shutdown()
        loop.stop()
    return out


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def measure(targets: dict[str, Any], sizes: dict[str, dict[str, int]], rounds: int = 10) -> dict[str, dict[str, Any]]:
    """Every figure for every target. create+join - the figure compared as a ratio - is taken in
    interleaved rounds, so a burst of load on this shared machine hits every target alike."""
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            samples[name] += await create_join(target, max(1, sizes[name]["create_join"] // rounds))
    results: dict[str, dict[str, Any]] = {}
    for name, target in targets.items():
        print(f"measuring {name} ...", file=sys.stderr)
        cj, size = sorted(samples[name]), sizes[name]
        result: dict[str, Any] = {"create_join_p50_ms": p50(cj) * 1000, "create_join_p90_ms": cj[int(0.9 * len(cj))] * 1000}
        result["runs_per_s_50_threads"] = await throughput(target, 50, size["runs_each"])
        result["interrupt_to_successor_p50_ms"] = p50(await interrupt_to_successor(target, size["interrupt"])) * 1000
        result["enqueued_30_s"] = p50(await enqueued(target, 30, size["enqueued"]))
        results[name] = result
    return results


async def measure_targets(makers: dict[str, Any], sizes: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    targets = {name: make() for name, make in makers.items()}
    try:
        return await measure(targets, sizes)
    finally:
        for target in targets.values():
            await target.aclose()


# --- memory: a child process, so nothing else is in its RSS --------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(threads: int, idle_timeout: float, touch: bool = True) -> dict[str, Any]:
    """Create `threads` threads; with `touch`, send each a message (a metadata patch, which spawns its
    actor; every 100th a 1-step run instead). Without, storage records only: the control."""
    from actors import ActorSystem, Settings

    os.environ.pop(JOURNAL_ENV, None)
    marks = sorted({threads // 10, threads // 4, threads // 2, 3 * threads // 4, threads} - {0})
    samples = []
    with ActorSystem({GRAPH_ID: graph}, settings=Settings(idle_timeout=idle_timeout)) as system:
        samples.append({"threads": 0, "rss_mb": rss_mb(), "live_actors": 0, "os_threads": threading.active_count()})
        for i in range(1, threads + 1):
            thread_id = system.threads.create()["thread_id"]
            if not touch:
                pass
            elif i % 100 == 0:
                system.runs.wait(thread_id, GRAPH_ID, input=ONE_STEP)
            else:
                system.threads.update(thread_id, metadata={"i": i})
            if i in marks:
                samples.append({"threads": i, "rss_mb": rss_mb(), "live_actors": system.live_thread_actors(), "os_threads": threading.active_count()})
        deadline = time.monotonic() + idle_timeout * 10 + 5
        while system.live_thread_actors() and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for passivation timers (a benchmark, not a test)
        after = {"rss_mb": rss_mb(), "live_actors": system.live_thread_actors(), "os_threads": threading.active_count()}
    return {"samples": samples, "after_idle": after, "idle_timeout_s": idle_timeout}


def memory(threads: int) -> dict[str, Any]:
    def child(*extra: str) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "loadtest.bench", "--memory-child", str(threads), *extra]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=str(DOCS.parent.parent))
        return json.loads(out.stdout.strip().splitlines()[-1])

    touched = child()
    touched["control"] = child("--memory-control")
    return touched


# --- output --------------------------------------------------------------------------------------


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def render(results: dict[str, Any]) -> str:
    parts = [render_targets(results)]
    if results.get("storage"):
        from . import bench_storage

        parts.append(bench_storage.render(results["storage"]))
    return "\n\n".join(parts)


def render_targets(results: dict[str, Any]) -> str:
    names = [n for n in ("baseline", "embedded", "embedded-loop", "http", "reference") if n in results["targets"]]
    titles = {"baseline": "in-process LangGraph (floor)", "embedded": "switchboard embedded",
              "embedded-loop": "switchboard embedded, on the caller's loop",
              "http": "switchboard HTTP", "reference": "reference (`langgraph dev`)"}
    rows = [
        ("create+join p50, 1 step (ms)", "create_join_p50_ms", "{:.2f}"),
        ("runs/s, 50 threads × create+join", "runs_per_s_50_threads", "{:.0f}"),
        ("interrupt → successor start p50 (ms)", "interrupt_to_successor_p50_ms", "{:.2f}"),
        ("30 enqueued runs, one thread (s)", "enqueued_30_s", "{:.3f}"),
    ]
    lines = [
        f"Measured {results['when']} on {results['machine']}; load before: `{results['load_before']}`; "
        f"after: `{results['load_after']}`.",
        f"Command: `{results['command']}`",
    ]
    if names:
        lines += ["", "| figure | " + " | ".join(titles[n] for n in names) + " |", "|---|" + "---:|" * len(names)]
    for label, key, fmt in rows if names else ():
        cells = [fmt.format(results["targets"][n][key]) if key in results["targets"][n] else "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    base = results["targets"].get("baseline", {})
    ratios = []
    for n in ("embedded", "embedded-loop", "http", "reference"):
        t = results["targets"].get(n)
        if t and base:
            ratios.append(f"{titles[n]}: create+join {t['create_join_p50_ms'] / base['create_join_p50_ms']:.2f}× the floor")
    if ratios:
        lines += ["", "Ratios: " + "; ".join(ratios) + "."]
    hops = results.get("hops")
    if hops:
        lines.append(
            f"One cross-thread round trip from an asyncio caller (p50): through the thread-actor pool "
            f"{hops['pool']:.0f} µs, through the graph loop {hops['graph_loop']:.0f} µs."
        )
    if "reference" in results["targets"] and "http" in results["targets"]:
        ref, ours = results["targets"]["reference"], results["targets"]["http"]
        lines.append(
            f"switchboard HTTP vs reference: create+join {ref['create_join_p50_ms'] / ours['create_join_p50_ms']:.0f}× faster, "
            f"runs/s {ours['runs_per_s_50_threads'] / ref['runs_per_s_50_threads']:.0f}×, "
            f"30 enqueued {ref['enqueued_30_s'] / ours['enqueued_30_s']:.0f}× faster."
        )
    mem = results.get("memory")
    if mem:
        lines += ["", f"Memory (embedded, child process, idle timeout {mem['idle_timeout_s']} s; every thread created and "
                  "touched by a message, every 100th also runs a 1-step run):", "",
                  "| threads touched | RSS (MB) | RSS, storage only (MB) | live thread actors | OS threads |",
                  "|---:|---:|---:|---:|---:|"]
        control = {c["threads"]: c["rss_mb"] for c in mem.get("control", {}).get("samples", [])}
        for s in mem["samples"]:
            base = f"{control[s['threads']]:.0f}" if s["threads"] in control else "-"
            lines.append(f"| {s['threads']:,} | {s['rss_mb']:.0f} | {base} | {s['live_actors']} | {s['os_threads']} |")
        a = mem["after_idle"]
        c = mem.get("control", {}).get("after_idle", {})
        lines.append(f"| after idle | {a['rss_mb']:.0f} | {c.get('rss_mb', float('nan')):.0f} | {a['live_actors']} | {a['os_threads']} |")
        first, last = mem["samples"][1], mem["samples"][-1]
        growth = (last["rss_mb"] - first["rss_mb"]) * 1024 / max(last["threads"] - first["threads"], 1)
        lines.append("")
        lines.append(f"RSS growth from {first['threads']:,} to {last['threads']:,} threads: {growth:.2f} KB per thread touched"
                     + (f" (storage only: {(control[last['threads']] - control[first['threads']]) * 1024 / max(last['threads'] - first['threads'], 1):.2f} KB)." if control else "."))
    return "\n".join(lines)


def write_docs(text: str, block: str = "bench") -> None:
    """Replace the text between `<!-- {block}:begin -->` and `<!-- {block}:end -->` (the block is
    added at the end of the page if it is not there yet)."""
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    page = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{begin}\n{end}\n"
    if begin not in page:
        page += f"\n{begin}\n{end}\n"
    head, rest = page.split(begin, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    DOCS.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def block_of(only: set[str]) -> str:
    """The docs block a run writes: the whole run the main one; a subset (`--only storage`) its own,
    so a partial run never replaces the figures it did not measure."""
    return "bench" if only >= set(DEFAULT_ONLY.split(",")) - {"cluster"} else "bench-" + "-".join(sorted(only))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.bench", description=__doc__.splitlines()[0])
    p.add_argument("--reference", default=os.environ.get("SWITCHBOARD_REFERENCE_LANGGRAPH"), help="the reference server's `langgraph` binary")
    p.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    p.add_argument("--only", default=DEFAULT_ONLY, help="comma-separated subset")
    p.add_argument("--redis-url", help="cluster figures: the Redis the processes share (default: redis://127.0.0.1:6379/0)")
    p.add_argument("--database-url", help="storage figures: the PostgreSQL database to take a scratch schema of")
    p.add_argument("--memory-threads", type=int, default=100_000)
    p.add_argument("--storage-rounds", type=int, help="storage figures: interleaved rounds (default 3, 2 with --quick)")
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--memory-control", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, idle_timeout=0.5, touch=not args.memory_control)))
        return 0
    only = set(args.only.split(","))
    if "cluster" in only:  # its own block of docs/benchmarks.md: `--only cluster` leaves the others alone
        from . import bench_cluster

        only.discard("cluster")
        bench_cluster.main(args.database_url, args.redis_url, quick=args.quick, write=not args.no_write, json_path=args.json)
        if not only:
            return 0
    sizes = {"create_join": 500, "runs_each": 20, "interrupt": 30, "enqueued": 7}
    ref_sizes = {"create_join": 10, "runs_each": 4, "interrupt": 5, "enqueued": 1}
    if args.quick:
        sizes = {"create_join": 30, "runs_each": 4, "interrupt": 5, "enqueued": 2}
        ref_sizes = {"create_join": 3, "runs_each": 1, "interrupt": 2, "enqueued": 1}
    journal = new_journal()
    os.environ[JOURNAL_ENV] = str(journal)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load(),
        "command": "python -m loadtest.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "targets": {},
    }
    # Ours and the floor side by side (create+join interleaved); the reference on its own, after.
    with contextlib.ExitStack() as stack:
        makers: dict[str, Any] = {}
        if "baseline" in only:
            makers["baseline"] = lambda: BaselineTarget(journal)
        if "embedded" in only:
            makers["embedded"] = lambda: EmbeddedTarget(journal)
        if "embedded-loop" in only:
            makers["embedded-loop"] = lambda: EmbeddedTarget(journal, on_caller_loop=True)
        if "http" in only:
            makers["http"] = stack.enter_context(ServerProcess("switchboard", journal=journal)).target
        print(f"measuring create+join of {', '.join(makers)} in interleaved rounds ...", file=sys.stderr)
        results["targets"].update(asyncio.run(measure_targets(makers, {name: sizes for name in makers})))
    results["hops"] = asyncio.run(hop_round_trips())
    if "reference" in only:
        if args.reference and Path(args.reference).exists():
            with ServerProcess("reference", langgraph_bin=args.reference, journal=journal) as server:
                results["targets"].update(asyncio.run(measure_targets({"reference": server.target}, {"reference": ref_sizes})))
        else:
            print("reference server not installed (--reference / SWITCHBOARD_REFERENCE_LANGGRAPH): skipped", file=sys.stderr)
    if "storage" in only:
        from . import bench_storage

        results["storage"] = bench_storage.measure(rounds=args.storage_rounds or (2 if args.quick else 3),
                                                   create_join_trials=60 if args.quick else 300,
                                                   database_url=args.database_url)
    if "memory" in only:
        print(f"measuring memory over {args.memory_threads:,} threads ...", file=sys.stderr)
        results["memory"] = memory(args.memory_threads)
    results["load_after"] = load()
    journal.unlink(missing_ok=True)
    text = render(results)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if not args.no_write:
        write_docs(text, block_of(only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
