"""Many threads, random strategies, concurrent double texts over HTTP: every accepted run reaches a
terminal status (or is deleted by a rollback), and no thread ever executes two runs at once."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from tests.graphs.steps import JOURNAL, JOURNAL_LOCK
from tests.helpers import inp

TERMINAL = {"success", "error", "interrupted", "timeout"}
THREADS = 24
TEXTS_PER_THREAD = 10


async def double_texts(client, tid: str, rng: random.Random) -> tuple[list[str], int]:
    """Fire runs at one thread with random strategies and tiny gaps; return accepted ids, rejects."""
    accepted, rejected = [], 0

    async def one(i: int) -> None:
        nonlocal rejected
        await asyncio.sleep(rng.random() * 0.05)
        strategy = rng.choice(["enqueue", "interrupt", "rollback", "reject"])
        try:
            run = await client.runs.create(
                tid, "steps", input={"messages": [], **inp(f"t{i}", delay=rng.choice([0.0, 0.005, 0.02]))},
                multitask_strategy=strategy,
            )
            accepted.append(run["run_id"])
        except httpx.HTTPStatusError as err:
            assert err.response.status_code == 409, err.response.text
            assert strategy == "reject"
            rejected += 1

    await asyncio.gather(*(one(i) for i in range(TEXTS_PER_THREAD)))
    return accepted, rejected


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_double_texts_keep_every_invariant(client, seed):
    rng = random.Random(seed)
    threads = [(await client.threads.create())["thread_id"] for _ in range(THREADS)]
    results = await asyncio.gather(*(double_texts(client, tid, rng) for tid in threads))

    for tid, (accepted, _rejected) in zip(threads, results):
        assert accepted, "at least the first run of a thread is accepted"
        for run_id in accepted:  # every accepted run ends: join returns (or 404 once rolled back)
            try:
                await asyncio.wait_for(client.runs.join(tid, run_id), timeout=30)
                status = (await client.runs.get(tid, run_id))["status"]
                assert status in TERMINAL, status
            except httpx.HTTPStatusError as err:
                assert err.response.status_code == 404  # deleted by a rollback
        thread = await client.threads.get(tid)
        assert thread["status"] in ("idle", "error")
        assert await client.runs.list(tid, status="running") == []
        assert await client.runs.list(tid, status="pending") == []

    # No two runs of one thread ever executed at the same time (as the graph's own steps saw it).
    with JOURNAL_LOCK:
        journal = list(JOURNAL)
    for tid, (accepted, _) in zip(threads, results):
        spans = []
        for run_id in accepted:
            times = [t for rid, _, _, t in journal if rid == run_id]
            if times:
                spans.append((min(times), max(times), run_id))
        spans.sort()
        for (s1, e1, r1), (s2, e2, r2) in zip(spans, spans[1:]):
            assert e1 <= s2, f"thread {tid}: run {r1} overlapped run {r2}"

    # Surviving outputs: each run's steps appear at most once and in order in the final state.
    for tid, _ in zip(threads, results):
        messages = (await client.threads.get_state(tid))["values"].get("messages", [])
        assert len(messages) == len(set(messages)), f"duplicated step output in {tid}: {messages}"
