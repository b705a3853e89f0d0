"""Auth overhead: median and p95 latency of `GET /threads/{id}` through the real SDK against a real
uvicorn, auth off vs on (an owner filter checked against the stored thread). Run:

    .venv/bin/python -m tests.bench_auth
"""

from __future__ import annotations

import asyncio
import statistics
import time

from langgraph_sdk import Auth, get_client

from actors import ActorSystem
from server.app import create_app
from tests.conftest import LiveServer
from tests.graphs.steps import GRAPHS

REQUESTS = 400


def owner_auth() -> Auth:
    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None):
        return (authorization or "Bearer anonymous").split(" ", 1)[1]

    @auth.on
    async def owner(ctx, value):
        value.setdefault("metadata", {})["owner"] = ctx.user.identity
        return {"owner": ctx.user.identity}

    return auth


async def measure(url: str) -> tuple[float, float]:
    client = get_client(url=url, headers={"Authorization": "Bearer alice"})
    thread = await client.threads.create()
    for _ in range(50):  # warm up
        await client.threads.get(thread["thread_id"])
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        await client.threads.get(thread["thread_id"])
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(0.95 * REQUESTS)] * 1e3


def main() -> None:
    for label, auth in (("auth off", None), ("auth on", owner_auth())):
        with ActorSystem(GRAPHS) as system, LiveServer(create_app(system, own_system=False, auth=auth)) as server:
            median, p95 = asyncio.run(measure(server.url))
        print(f"{label}: median {median:.2f} ms, p95 {p95:.2f} ms ({REQUESTS} sequential GET /threads/{{id}})")


if __name__ == "__main__":
    main()
