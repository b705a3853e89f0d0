"""`switchboard loadtest`: run a bounded double-texting workload against a target, check the history,
print a summary, and exit non-zero on any violation. See docs/loadtest.md.

Targets: `--embedded` (the in-process actor system), `--serve` (start switchboard on a free loopback
port), `--reference PATH` (start the reference server, `langgraph dev`, from its own venv), or `--url`
with `--journal` (a server you started with SWITCHBOARD_LOADTEST_JOURNAL=<journal> serving
loadtest/langgraph.json). Only loopback URLs unless `--allow-remote`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

JOURNAL_ENV = "SWITCHBOARD_LOADTEST_JOURNAL"  # the benchmark graph reads it (loadtest/graph.py)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    p = commands.add_parser("loadtest", help="drive a server with double-texting traffic and check the semantics")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--embedded", action="store_true", help="the in-process actor system (no HTTP)")
    target.add_argument(
        "--embedded-loop", action="store_true",
        help="the in-process actor system on the harness's own event loop (ActorSystem.on_running_loop)",
    )
    target.add_argument("--serve", action="store_true", help="start switchboard on a free loopback port and drive it over HTTP")
    target.add_argument("--reference", metavar="LANGGRAPH_BIN", help="start the reference server (`langgraph dev`) from this binary")
    target.add_argument(
        "--url", action="append",
        help="a running server serving loadtest/langgraph.json (needs --journal); give it once per process of a "
        "cluster to spread the requests over them (each request to the next)",
    )
    target.add_argument("--check", metavar="HISTORY", help="no traffic: re-check a history saved with --history")
    p.add_argument("--storage", choices=["memory", "sqlite", "postgres"], default="memory", help="with --serve: the server's storage (default: %(default)s)")
    p.add_argument("--database-url", help="with --serve --storage postgres: a scratch database (the runs stay in it)")
    p.add_argument("--processes", type=int, default=1, help="with --serve: start this many processes as one cluster "
                   "(needs --database-url, a fresh schema, and --redis-url) and spread the requests over them")
    p.add_argument("--redis-url", help="with --serve --processes N: the cluster's Redis (redis://...)")
    p.add_argument("--journal", help=f"with --url: the journal file the server's graph writes ({JOURNAL_ENV})")
    p.add_argument("--allow-remote", action="store_true", help="allow a --url that is not on loopback")
    w = p.add_argument_group("workload")
    w.add_argument("--threads", type=int, default=10, help="threads (default: %(default)s)")
    w.add_argument("--runs-per-thread", type=int, default=10, help="runs per thread (default: %(default)s)")
    w.add_argument("--total-runs", type=int, help="stop after this many runs (default: threads × runs-per-thread)")
    w.add_argument("--duration", type=float, help="stop sending after this many seconds")
    w.add_argument("--mix", default="enqueue=50,interrupt=30,rollback=10,reject=10", help="strategy weights (default: %(default)s)")
    w.add_argument("--arrival", choices=["closed", "open"], default="closed", help="closed loop (users) or open loop (rate)")
    w.add_argument("--users", type=int, help="closed loop: concurrent users (default: one per thread)")
    w.add_argument("--rate", type=float, default=50.0, help="open loop: runs per second (default: %(default)s)")
    w.add_argument("--steps", type=int, default=3, help="steps of the benchmark graph per run (default: %(default)s)")
    w.add_argument("--step-duration", type=float, default=0.02, help="seconds each step sleeps (default: %(default)s)")
    w.add_argument("--join-prob", type=float, default=0.5, help="closed loop: chance a user waits for its run (default: %(default)s)")
    w.add_argument("--stream-prob", type=float, default=0.2, help="chance a run is created with runs.stream (default: %(default)s)")
    w.add_argument("--v2-prob", type=float, default=0.0, help="chance a run goes through protocol v2 (run.start + its event stream; HTTP targets) (default: %(default)s)")
    w.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    w.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for accepted runs at the end")
    o = p.add_argument_group("output")
    o.add_argument("--report", help="write the JSON report here")
    o.add_argument("--plot", help="write a self-contained HTML page with latency plots here")
    o.add_argument("--history", help="write the full history (JSON) here, for re-checking")
    o.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.set_defaults(handler=run)
    return p


def _workload(args: argparse.Namespace) -> Any:
    from .harness import Workload, parse_mix

    for name in ("threads", "runs_per_thread", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.steps > 20:
        raise ValueError("--steps must be at most 20 (the benchmark graph's length)")
    if args.step_duration < 0 or args.rate <= 0 or not 0 <= args.join_prob <= 1 or not 0 <= args.stream_prob <= 1 or not 0 <= args.v2_prob <= 1:
        raise ValueError("--step-duration must be >= 0, --rate > 0, --join-prob, --stream-prob and --v2-prob within 0..1")
    return Workload(
        threads=args.threads, runs_per_thread=args.runs_per_thread, mix=parse_mix(args.mix), arrival=args.arrival,
        users=args.users, rate=args.rate, steps=args.steps, step_duration=args.step_duration, duration=args.duration,
        total_runs=args.total_runs, join_prob=args.join_prob, stream_prob=args.stream_prob, v2_prob=args.v2_prob, seed=args.seed, drain_timeout=args.drain_timeout,
    )


async def execute(target: Any, workload: Any, progress: bool) -> Any:
    from .harness import Harness

    if not progress:
        try:
            return await Harness(target, workload).run()
        finally:
            await target.aclose()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task(f"runs sent to {target.name}", total=workload.planned_runs)
        harness = Harness(target, workload, on_progress=lambda n: bar.advance(task, n))
        try:
            return await harness.run()
        finally:
            bar.update(task, description="drained")
            await target.aclose()


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from .spread import ServerGroup, SpreadTarget
    from .targets import EmbeddedTarget, HttpTarget, ServerProcess, is_loopback

    if args.check:
        from .history import History

        try:
            history = History.from_json(Path(args.check).read_bytes())
        except (OSError, ValueError) as exc:
            print(f"switchboard loadtest: --check {args.check}: {exc}", file=sys.stderr)
            return 2
        return _conclude(history, args)
    try:
        workload = _workload(args)
    except ValueError as exc:
        print(f"switchboard loadtest: {exc}", file=sys.stderr)
        return 2
    server = None
    if (args.processes != 1 or args.redis_url) and not args.serve:
        print("switchboard loadtest: --processes and --redis-url go with --serve (for --url, start the servers yourself)", file=sys.stderr)
        return 2
    if args.url:
        if not args.journal:
            print(f"switchboard loadtest: --url needs --journal (the file the server's {JOURNAL_ENV} names)", file=sys.stderr)
            return 2
        for url in args.url:
            if not is_loopback(url) and not args.allow_remote:
                print(f"switchboard loadtest: {url} is not a loopback address; pass --allow-remote to target it", file=sys.stderr)
                return 2
        targets = [HttpTarget(url, Path(args.journal), name=url) for url in args.url]
        target: Any = targets[0] if len(targets) == 1 else SpreadTarget(targets, name=" + ".join(args.url))
    elif (args.embedded or args.embedded_loop) and workload.v2_prob:
        print("switchboard loadtest: --v2-prob drives protocol v2 over HTTP; it needs --serve or --url", file=sys.stderr)
        return 2
    elif args.embedded:
        target = EmbeddedTarget()
    elif args.embedded_loop:
        target = None  # made on the loop the workload runs on
    elif args.serve and (args.processes != 1 or args.redis_url):
        try:
            if args.storage != "postgres":
                raise ValueError("--processes needs --storage postgres (one database shared by the processes)")
            server = ServerGroup(args.processes, args.database_url, args.redis_url)
        except ValueError as exc:
            print(f"switchboard loadtest: {exc}", file=sys.stderr)
            return 2
        try:
            server.__enter__()
        except RuntimeError as exc:
            print(f"switchboard loadtest: {exc}", file=sys.stderr)
            return 2
        target = server.target()
    else:
        try:
            server = ServerProcess(
                "reference" if args.reference else "switchboard", langgraph_bin=args.reference,
                storage=args.storage, database_url=args.database_url,
            )
        except ValueError as exc:
            print(f"switchboard loadtest: {exc}", file=sys.stderr)
            return 2
        server.__enter__()
        target = server.target()
    made: list[Any] = []

    async def drive() -> Any:
        made.append(target or EmbeddedTarget(on_caller_loop=True))
        return await execute(made[0], workload, progress=not args.no_progress and sys.stderr.isatty())

    try:
        history = asyncio.run(drive())
        target = made[0]
    finally:
        if server is not None:
            server.stop()
    code = _conclude(history, args)
    if not args.url and target.journal.exists():
        os.unlink(target.journal)
    return code


def _conclude(history: Any, args: argparse.Namespace) -> int:
    """Check the history, print the summary and every violation, write the outputs; the exit code."""
    from .checker import check
    from .report import build_report, print_summary, write_html, write_json

    violations = check(history)
    report = build_report(history, violations)
    print_summary(report)
    for violation in violations[:50]:
        print(f"VIOLATION {violation}")
    if len(violations) > 50:
        print(f"... and {len(violations) - 50} more violations")
    if args.report:
        write_json(report, args.report)
    if args.plot:
        write_html(history, report, args.plot)
    if args.history and not args.check:
        history.save(args.history)
    return 1 if violations else 0
