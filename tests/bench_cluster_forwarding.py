"""What forwarding a thread's request to its owner costs (server/forwarding.py): two cluster-mode
processes on a fresh schema; `GET /threads/{id}` served by the owner vs through the peer.

    .venv/bin/python -m tests.bench_cluster_forwarding [requests]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.cluster_support import ClusterProcess, cluster_backends


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


def main(requests: int = 300) -> None:
    with cluster_backends() as (database_url, redis_url), tempfile.TemporaryDirectory() as tmp:
        a = ClusterProcess(Path(tmp), database_url, redis_url)
        b = ClusterProcess(Path(tmp), database_url, redis_url)
        try:
            a.start()
            b.start()
            with httpx.Client(timeout=30) as http:
                thread_id = http.post(f"{a.url}/threads", json={}).json()["thread_id"]
                http.post(f"{a.url}/threads/{thread_id}/runs/wait", json={"assistant_id": "one", "input": {"tag": "x"}})
                for name, url in (("owner", a.url), ("peer", b.url)) * 2:
                    latencies = []
                    for _ in range(requests):
                        started = time.perf_counter()
                        assert http.get(f"{url}/threads/{thread_id}").status_code == 200
                        latencies.append(time.perf_counter() - started)
                    print(f"GET /threads/{{id}} via {name:5}  p50 {p(latencies, 0.5):6.2f} ms  p90 {p(latencies, 0.9):6.2f} ms")
        finally:
            a.stop()
            b.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
