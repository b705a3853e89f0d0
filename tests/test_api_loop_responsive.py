"""While the database makes a request wait, the server's event loop keeps serving every other
request: handlers' storage calls run off the loop (actors/door.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx

from actors import ActorSystem, Settings
from server.app import create_app
from tests.conftest import LiveServer
from tests.graphs.steps import GRAPHS


async def test_a_request_waiting_on_a_locked_database_does_not_hold_up_the_others(tmp_path: Path):
    settings = Settings(storage="sqlite", data_dir=str(tmp_path / "data"))
    with ActorSystem(GRAPHS, settings=settings) as system, LiveServer(create_app(system, own_system=False)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            # another process's write transaction: the server's writes of records wait for it (WAL
            # lets reads through)
            locker = sqlite3.connect(tmp_path / "data" / "switchboard.db", isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
            try:
                waiting = asyncio.create_task(client.post("/threads", json={"metadata": {"k": 1}}))
                slowest = 0.0
                for _ in range(30):
                    t0 = time.perf_counter()
                    assert (await client.get("/ok")).status_code == 200
                    slowest = max(slowest, time.perf_counter() - t0)
                assert slowest < 1.0, f"GET /ok took {slowest:.2f}s while another request waited on the database"
                assert not waiting.done(), "the thread creation should be waiting for the lock"
            finally:
                locker.execute("COMMIT")
                locker.close()
            assert (await waiting).json()["metadata"] == {"k": 1}


async def test_the_embedded_async_facade_does_not_block_the_callers_loop_on_a_locked_database(tmp_path: Path):
    settings = Settings(storage="sqlite", data_dir=str(tmp_path / "data"))
    with ActorSystem(GRAPHS, settings=settings) as system:
        await system.aio.threads.create()  # the database exists
        locker = sqlite3.connect(tmp_path / "data" / "switchboard.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            creating = asyncio.create_task(system.aio.threads.create(metadata={"k": 1}))
            ticks, t0 = 0, time.perf_counter()
            while ticks < 20:  # the loop keeps turning while the creation waits for the lock
                await asyncio.sleep(0.005)
                ticks += 1
            assert time.perf_counter() - t0 < 1.0
            assert not creating.done()
        finally:
            locker.execute("COMMIT")
            locker.close()
        assert (await creating)["metadata"] == {"k": 1}
