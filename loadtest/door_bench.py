"""Does the HTTP event loop stay responsive? Compares servers started from several checkouts (for
example the code before and after a change) on the same machine at the same time, rounds
interleaved so that load bursts on a shared machine hit them alike:

- create+join p50 over HTTP (a 1-step run on a fresh thread, then join), on SQLite and PostgreSQL;
- `GET /ok` latency (p50/p99/max) while 50 runs stream and PostgreSQL is slowed: a concurrent
  transaction holds an exclusive lock on the records table for `--lock-seconds`, and a few clients
  read a thread (`GET /threads/{id}`), a query that waits on that lock. If a handler does its
  storage call on the event loop, every request and stream of the server waits with it.

    .venv/bin/python -m loadtest.door_bench --source before=/tmp/before --source after=. \\
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--rounds 5]

Each PostgreSQL server gets a fresh schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import psycopg

from .targets import free_port

CONFIG = "loadtest/langgraph.json"
GRAPH = "bench"


class Server:
    def __init__(self, name: str, source: Path, storage: str, admin_url: str | None) -> None:
        self.name, self.storage = name, storage
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scratch = tempfile.TemporaryDirectory(prefix="door-bench-")
        cmd = [sys.executable, "-m", "server.cli", "serve", "--config", str(source / CONFIG), "--port", str(self.port),
               "--log-level", "warning", "--storage", storage, "--shutdown-grace", "1"]
        self.schema = None
        self.admin_url = admin_url
        if storage == "sqlite":
            cmd += ["--data-dir", self.scratch.name]
        else:
            assert admin_url
            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")
            sep = "&" if "?" in admin_url else "?"
            cmd += ["--database-url", f"{admin_url}{sep}options=-csearch_path%3D{self.schema}"]
        self.log = open(Path(self.scratch.name, "server.log"), "wb")
        self.proc = subprocess.Popen(cmd, cwd=source, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONPATH": str(source)})
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name}: server exited; {Path(self.scratch.name, 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/ok", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # polling its start-up, not synchronising a test

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()
        if self.schema:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {self.schema} CASCADE")
        self.scratch.cleanup()


async def create_join(client: httpx.AsyncClient, trials: int) -> list[float]:
    times = []
    for _ in range(trials):
        t0 = time.perf_counter()
        thread = (await client.post("/threads", json={})).json()["thread_id"]
        run = (await client.post(f"/threads/{thread}/runs", json={"assistant_id": GRAPH, "input": {"steps": 1}})).json()
        r = await client.get(f"/threads/{thread}/runs/{run['run_id']}/join")
        r.raise_for_status()
        times.append(time.perf_counter() - t0)
    return times


def hold_lock(server: Server, seconds: float, held: threading.Event) -> None:
    """A transaction that holds the records table (threads, runs, ...) exclusively for `seconds` (then commits)."""
    with psycopg.connect(server.admin_url) as conn:
        conn.execute(f"SET search_path TO {server.schema}")
        conn.execute("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
        held.set()
        conn.execute("SELECT pg_sleep(%s)", (seconds,))
        conn.commit()


async def responsiveness(server: Server, streams: int, lock_seconds: float) -> list[float]:
    """`GET /ok` latencies measured while `streams` runs stream and the threads table is locked."""
    limits = httpx.Limits(max_connections=streams + 20)
    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
        threads = [(await client.post("/threads", json={})).json()["thread_id"] for _ in range(streams)]
        body = {"assistant_id": GRAPH, "input": {"steps": 10, "delay": 0.2 + lock_seconds / 10}, "stream_mode": ["values"]}

        async def stream(thread: str) -> None:
            async with client.stream("POST", f"/threads/{thread}/runs/stream", json=body) as r:
                async for _ in r.aiter_bytes():
                    pass

        streaming = [asyncio.create_task(stream(t)) for t in threads]
        held = threading.Event()
        locker = threading.Thread(target=hold_lock, args=(server, lock_seconds, held))
        locker.start()
        await asyncio.to_thread(held.wait)
        readers = [asyncio.create_task(client.get(f"/threads/{t}")) for t in threads[:3]]
        latencies: list[float] = []
        end = time.monotonic() + lock_seconds * 0.9
        while time.monotonic() < end:
            t0 = time.perf_counter()
            (await client.get("/ok")).raise_for_status()
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)  # a request every ~10 ms, as a health probe would
        await asyncio.gather(*readers)
        await asyncio.gather(*streaming)
        await asyncio.to_thread(locker.join)
        return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def main_async(args: argparse.Namespace) -> None:
    sources = [s.split("=", 1) for s in args.source]
    storages = ["sqlite"] + (["postgres"] if args.database_url else [])
    results: dict[tuple[str, str], list[float]] = {}
    ok: dict[str, list[float]] = {}
    for storage in storages:
        servers = [Server(name, Path(path).resolve(), storage, args.database_url) for name, path in sources]
        try:
            clients = {s.name: httpx.AsyncClient(base_url=s.url, timeout=60) for s in servers}
            for name, client in clients.items():  # warm-up
                await create_join(client, 5)
            for _ in range(args.rounds):
                for name, client in clients.items():
                    results.setdefault((storage, name), []).extend(await create_join(client, args.trials))
            if storage == "postgres":
                for _ in range(args.lock_rounds):
                    for server in servers:
                        ok.setdefault(server.name, []).extend(await responsiveness(server, args.streams, args.lock_seconds))
            for client in clients.values():
                await client.aclose()
        finally:
            for server in servers:
                with contextlib.suppress(Exception):
                    server.stop()
    print(f"create+join over HTTP, p50 of {args.rounds}x{args.trials} (ms):")
    for (storage, name), times in results.items():
        print(f"  {storage:9} {name:8} p50 {statistics.median(times) * 1e3:7.2f}  p90 {quantile(times, 0.9) * 1e3:7.2f}")
    if ok:
        print(f"GET /ok while {args.streams} runs stream and PostgreSQL's records table is locked {args.lock_seconds}s (ms):")
        for name, lat in ok.items():
            print(f"  {name:8} n {len(lat):4}  p50 {statistics.median(lat) * 1e3:8.2f}  p99 {quantile(lat, 0.99) * 1e3:8.2f}  max {max(lat) * 1e3:8.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", action="append", required=True, help="NAME=DIR: a checkout to serve from")
    parser.add_argument("--database-url", help="an admin URL of a PostgreSQL database (fresh schemas are made in it)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--lock-seconds", type=float, default=2.0)
    parser.add_argument("--lock-rounds", type=int, default=2)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
