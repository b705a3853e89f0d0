"""The workload and its driver: threads, runs per thread, a strategy mix, an arrival pattern (closed
loop with N users, or open loop at R runs/s), bounded by a duration and a run count. Every request and
response goes into the `History`; after the workload the harness joins every accepted run (bounded by
`drain_timeout`), reads final run statuses and thread states, and loads the graph's journal.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any, Literal

import msgspec

from .history import DELETED, Op, History
from .targets import Gone, Rejected, Target

STRATEGIES = ("enqueue", "interrupt", "rollback", "reject")


class Workload(msgspec.Struct, kw_only=True):
    threads: int = 10
    runs_per_thread: int = 10
    mix: dict[str, float] = msgspec.field(default_factory=lambda: {"enqueue": 50, "interrupt": 30, "rollback": 10, "reject": 10})
    arrival: Literal["closed", "open"] = "closed"
    users: int | None = None
    """Closed loop: concurrent users (default: one per thread); threads are shared round-robin."""
    rate: float = 50.0
    """Open loop: runs per second (Poisson arrivals)."""
    steps: int = 3
    step_duration: float = 0.02
    duration: float | None = None
    """Stop sending new runs after this many seconds."""
    total_runs: int | None = None
    """Stop after this many runs (default threads × runs-per-thread)."""
    join_prob: float = 0.5
    stream_prob: float = 0.2
    """Chance a run is created with `runs.stream` (its events read to the end) instead of `create`."""
    v2_prob: float = 0.0
    """Chance a run is created with protocol v2's `run.start` and read on the thread's v2 event stream
    (HTTP targets only); checked first, before `stream_prob`."""
    """Closed loop: chance a user waits for its run before sending the next (otherwise it double-texts
    after a random pause of up to one run's duration)."""
    seed: int = 0
    drain_timeout: float = 60.0

    @property
    def planned_runs(self) -> int:
        return self.total_runs or self.threads * self.runs_per_thread


def parse_mix(text: str) -> dict[str, float]:
    """`enqueue=50,interrupt=30,rollback=10,reject=10` -> weights (need not add up to 100)."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if name not in STRATEGIES or not sep:
            raise ValueError(f"--mix: {part!r} must look like STRATEGY=WEIGHT with STRATEGY one of {list(STRATEGIES)}")
        try:
            value = float(weight)
        except ValueError:
            raise ValueError(f"--mix: weight of {name!r} is not a number: {weight!r}") from None
        if value < 0:
            raise ValueError(f"--mix: weight of {name!r} is negative")
        mix[name] = value
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("--mix: give at least one strategy with a positive weight")
    return mix


class Harness:
    def __init__(self, target: Target, workload: Workload, on_progress: Callable[[int], None] | None = None) -> None:
        self.target = target
        self.w = workload
        self.history = History(meta={"target": target.name, "workload": msgspec.to_builtins(workload)})
        self.on_progress = on_progress or (lambda n: None)
        self.sent = 0
        self.started = 0.0
        self._joins: set[asyncio.Task[None]] = set()
        names = [s for s in STRATEGIES if workload.mix.get(s, 0) > 0]
        self._strategies = names
        self._weights = [workload.mix[s] for s in names]

    # --- one operation ----------------------------------------------------------------------------

    def _input(self) -> dict[str, Any]:
        return {"steps": self.w.steps, "delay": self.w.step_duration}

    def _take(self) -> bool:
        """Count one more run against the budget, if any is left (run count and duration)."""
        if self.sent >= self.w.planned_runs:
            return False
        if self.w.duration is not None and time.time() - self.started >= self.w.duration:
            return False
        self.sent += 1
        return True

    async def create(self, thread_id: str, strategy: str) -> Op:
        t_send = time.time()
        try:
            run_id = await self.target.create_run(thread_id, strategy, self._input())
            op = Op(kind="create", thread=thread_id, t_send=t_send, t_resp=time.time(), result="accepted",
                    run=run_id, strategy=strategy, steps=self.w.steps)
        except Rejected as exc:
            op = Op(kind="create", thread=thread_id, t_send=t_send, t_resp=time.time(), result="rejected",
                    strategy=strategy, steps=self.w.steps, detail=str(exc)[:300])
        except Exception as exc:  # noqa: BLE001 - any failure is history; the checker reports it
            op = Op(kind="create", thread=thread_id, t_send=t_send, t_resp=time.time(), result="error",
                    strategy=strategy, steps=self.w.steps, detail=f"{type(exc).__name__}: {exc}"[:300])
        self.history.add(op)
        self.on_progress(1)
        return op

    async def stream_v2(self, thread_id: str, strategy: str) -> Op:
        return await self.stream(thread_id, strategy, v2=True)

    async def stream(self, thread_id: str, strategy: str, *, v2: bool = False) -> Op:
        """A streamed run: accepted when the run id is known, its end seen when the stream ends."""
        t_send = time.time()
        seen: dict[str, Any] = {}

        def created(run_id: str) -> None:
            seen.setdefault("run", run_id)
            seen.setdefault("t_created", time.time())

        def event(name: str) -> None:
            if name not in ("metadata", "lifecycle"):
                seen.setdefault("t_first", time.time())

        op = Op(kind="create", thread=thread_id, t_send=t_send, t_resp=t_send, result="accepted", strategy=strategy,
                steps=self.w.steps, streamed=True, v2=v2)
        try:
            send = self.target.v2_run if v2 else self.target.stream_run  # type: ignore[attr-defined]
            await send(thread_id, strategy, self._input(), created, event)
        except Rejected as exc:
            op.result, op.detail = "rejected", str(exc)[:300]
        except Exception as exc:  # noqa: BLE001 - any failure is history; the checker reports it
            op.result, op.detail = "error", f"{type(exc).__name__}: {exc}"[:300]
        t_end = time.time()
        if op.result == "accepted" and "run" not in seen:
            op.result, op.detail = "error", "the stream ended without naming its run"
        op.run, op.t_resp, op.t_first_event = seen.get("run"), seen.get("t_created", t_end), seen.get("t_first")
        self.history.add(op)
        self.on_progress(1)
        if op.result == "accepted":
            # The stream ended with the run: that is when the client saw it end.
            self.history.add(Op(kind="join", thread=thread_id, run=op.run, t_send=op.t_resp, t_resp=t_end, result="ok"))
        return op

    async def join(self, thread_id: str, run_id: str) -> Op:
        t_send = time.time()
        try:
            await self.target.join(thread_id, run_id)
            result, detail = "ok", None
        except Gone:
            result, detail = "not_found", None
        except Exception as exc:  # noqa: BLE001
            result, detail = "error", f"{type(exc).__name__}: {exc}"[:300]
        return self.history.add(Op(kind="join", thread=thread_id, run=run_id, t_send=t_send, t_resp=time.time(), result=result, detail=detail))  # type: ignore[arg-type]

    # --- arrival patterns -------------------------------------------------------------------------

    async def _user(self, index: int, threads: list[str]) -> None:
        rng = random.Random(f"{self.w.seed}:{index}")
        run_time = self.w.steps * self.w.step_duration
        turn = 0
        while threads and self._take():
            thread_id = threads[turn % len(threads)]
            turn += 1
            strategy = rng.choices(self._strategies, self._weights)[0]
            if self.w.v2_prob and rng.random() < self.w.v2_prob:
                await self.stream_v2(thread_id, strategy)  # reads the thread's v2 stream to the run's end
                continue
            if rng.random() < self.w.stream_prob:
                await self.stream(thread_id, strategy)  # reads the run to its end, like a join
                continue
            op = await self.create(thread_id, strategy)
            if op.result == "accepted" and rng.random() < self.w.join_prob:
                await self.join(thread_id, op.run)  # type: ignore[arg-type]
            else:
                await asyncio.sleep(rng.uniform(0, run_time))

    async def closed_loop(self, threads: list[str]) -> None:
        users = max(1, min(self.w.users or len(threads), len(threads)))
        shares = [threads[u::users] for u in range(users)]
        await asyncio.gather(*(self._user(u, share) for u, share in enumerate(shares)))

    async def open_loop(self, threads: list[str]) -> None:
        rng = random.Random(f"{self.w.seed}:open")
        pending: set[asyncio.Task[Op]] = set()
        next_at = time.monotonic()
        while self._take():
            next_at += rng.expovariate(self.w.rate)
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            strategy = rng.choices(self._strategies, self._weights)[0]
            send = self.stream if rng.random() < self.w.stream_prob else self.create
            if self.w.v2_prob and rng.random() < self.w.v2_prob:
                send = self.stream_v2
            task = asyncio.create_task(send(rng.choice(threads), strategy))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)

    # --- the whole test ---------------------------------------------------------------------------

    async def run(self) -> History:
        threads = [await self.target.create_thread() for _ in range(self.w.threads)]
        self.started = time.time()
        self.history.meta["started"] = self.started
        if self.w.arrival == "open":
            await self.open_loop(threads)
        else:
            await self.closed_loop(threads)
        self.history.meta["sent_until"] = time.time()
        await self.drain()
        self.history.meta["finished"] = time.time()
        self.history.load_journal(self.target.journal, set(threads))
        return self.history

    async def drain(self) -> None:
        """Join every accepted run not yet seen terminal, then read final statuses and states."""
        accepted = self.history.accepted()
        waiting = [op for op in accepted if op.run not in self.history.terminal_seen]
        if waiting:
            joins = asyncio.gather(*(self.join(op.thread, op.run) for op in waiting))  # type: ignore[arg-type]
            try:
                await asyncio.wait_for(joins, timeout=self.w.drain_timeout)
            except asyncio.TimeoutError:
                self.history.meta["drain_timed_out"] = True
        sem = asyncio.Semaphore(32)

        async def status(op: Op) -> None:
            async with sem:
                value = await self.target.run_status(op.thread, op.run)  # type: ignore[arg-type]
                self.history.final_status[op.run] = value  # type: ignore[index]
                if value in ("success", "error", "interrupted", "timeout", DELETED):
                    self.history.saw_terminal(op.run, time.time())  # type: ignore[arg-type]

        async def state(thread_id: str) -> None:
            async with sem:
                self.history.final_done[thread_id] = await self.target.state_done(thread_id)

        await asyncio.gather(*(status(op) for op in accepted))
        await asyncio.gather(*(state(t) for t in dict.fromkeys(op.thread for op in self.history.ops)))
