"""Latency of the storage calls a thread actor makes on its mailbox (put_run, update_run), and of a
thread read an HTTP handler makes, on each backend; and how many storage calls one create+join of a
1-step run on a fresh thread makes. Run: `.venv/bin/python -m tests.bench_storage`."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from actors import Settings
from actors.models import Run, Thread, new_id
from actors.kernel.runtime import GraphLoop
from actors.storage import open_storage
from tests.backends import BACKENDS, backend_settings


def _quantiles(samples: list[float]) -> str:
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    return f"p50 {p50 * 1e6:7.0f} µs   p99 {p99 * 1e6:7.0f} µs"


def bench(backend: str, n: int) -> None:
    runtime = GraphLoop(4)
    with tempfile.TemporaryDirectory() as tmp, backend_settings(backend, Path(tmp)) as fields:
        storage = open_storage(Settings(**fields), runtime)
        try:
            thread = Thread(thread_id=new_id())
            storage.create_thread(thread)
            puts, updates, reads = [], [], []
            for _ in range(n):
                run = Run(run_id=new_id(), thread_id=thread.thread_id, assistant_id="a", kwargs={"input": {"x": 1}})
                t0 = time.perf_counter()
                storage.put_run(run)
                t1 = time.perf_counter()
                storage.update_run(run.run_id, status="running")
                t2 = time.perf_counter()
                storage.get_thread(thread.thread_id)
                t3 = time.perf_counter()
                puts.append(t1 - t0)
                updates.append(t2 - t1)
                reads.append(t3 - t2)
            print(f"{backend:9} put_run    {_quantiles(puts)}")
            print(f"{backend:9} update_run {_quantiles(updates)}")
            print(f"{backend:9} get_thread {_quantiles(reads)}")
        finally:
            runtime.call(storage.aclose())
            storage.close()
            runtime.stop()


def calls_per_create_join() -> None:
    """Count the record-table and checkpointer calls of one create+join (embedded, SQLite)."""
    from collections import Counter

    from actors import ActorSystem
    from loadtest.graph import GRAPH_ID, graph

    counts: Counter[str] = Counter()

    def counted(label: str, fn):
        def call(*args, **kwargs):
            counts[label] += 1
            return fn(*args, **kwargs)

        return call

    def acounted(label: str, fn):
        async def call(*args, **kwargs):
            counts[label] += 1
            return await fn(*args, **kwargs)

        return call

    with tempfile.TemporaryDirectory() as tmp:
        with ActorSystem({GRAPH_ID: graph}, settings=Settings(storage="sqlite", data_dir=tmp)) as system:
            storage = system.ctx.storage
            for name in ("insert", "upsert", "get", "update", "delete", "delete_children", "scan", "batch"):
                setattr(storage.table, name, counted(f"record {name}", getattr(storage.table, name)))
            for name in ("aget_tuple", "aput", "aput_writes"):
                setattr(storage.checkpointer, name, acounted(f"checkpoint {name}", getattr(storage.checkpointer, name)))
            system.runs.wait(system.threads.create()["thread_id"], GRAPH_ID, input={"steps": 1})  # warm
            counts.clear()
            system.runs.wait(system.threads.create()["thread_id"], GRAPH_ID, input={"steps": 1})
    print("one create+join, fresh thread, 1 step: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for name in BACKENDS:
        bench(name, count)
    calls_per_create_join()
