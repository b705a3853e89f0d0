"""Latency of the storage calls a thread actor makes on its mailbox (put_run, update_run), and of a
thread read an HTTP handler makes, on each backend. Run: `.venv/bin/python -m tests.bench_storage`."""

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


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for name in BACKENDS:
        bench(name, count)
