"""Slow clients against `switchboard serve` with its default limits: N connections that send part
of a request head and then dribble a byte every second, and N that connect and send nothing. Reports
how long the server let them hold their sockets, and the latency of `GET /ok` meanwhile. Run:

    .venv/bin/python -m tests.bench_slow_clients [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.server_process import ServerProcess


async def slow_client(port: int, dribble: bool) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and the start of what it answered."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if dribble:
        writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    answer = b""
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), timeout=1.0)
            except asyncio.TimeoutError:
                if dribble:
                    writer.write(b"y")  # one more header byte, as a slowloris client does
                continue
            if not chunk:
                break
            answer += chunk
    finally:
        writer.close()
    return time.monotonic() - started, answer[:12]


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), ["--storage", "memory"]).start()
        try:
            port = int(server.url.rsplit(":", 1)[1])
            clients = [asyncio.create_task(slow_client(port, dribble=i % 2 == 0)) for i in range(2 * n)]
            latencies = []
            async with httpx.AsyncClient(base_url=server.url) as http:
                while not all(c.done() for c in clients):
                    t = time.monotonic()
                    assert (await http.get("/ok")).status_code == 200
                    latencies.append((time.monotonic() - t) * 1000)
                    await asyncio.sleep(0.1)  # pacing the probe, not synchronising anything
            held = [c.result()[0] for c in clients]
            answers = {c.result()[1] for c in clients}
            print(f"{2 * n} slow clients ({n} dribbling header bytes, {n} silent): held {min(held):.1f}-{max(held):.1f} s, "
                  f"answers {sorted(answers)}; GET /ok meanwhile: median {statistics.median(latencies):.1f} ms, "
                  f"max {max(latencies):.1f} ms over {len(latencies)} requests")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
