"""Test graphs: N steps that sleep `delay` seconds then append "<tag>:<i>" to `messages`.

The input carries `tag` and `delay` (`slow_at`/`slow_delay` make one step slow); `fail_at` makes step i raise; `steps_seen` in the config's
configurable (a list) records (run_id, step, "start"/"end") so tests can check that no step of an old
run executes after its successor began.
"""

from __future__ import annotations

import asyncio
import operator
import threading
import time
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.config import get_stream_writer
from langgraph.types import interrupt
from typing_extensions import TypedDict

STEPS = 3
JOURNAL: list[tuple[str, int, str, float]] = []  # (run_id, step, "start"|"end", time)
JOURNAL_LOCK = threading.Lock()


def record(config: dict[str, Any], step: int, what: str) -> None:
    with JOURNAL_LOCK:
        JOURNAL.append((config["configurable"].get("run_id", "?"), step, what, time.monotonic()))


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    tag: str
    delay: float
    fail_at: int
    slow_at: int
    slow_delay: float


def delay_for(state: State, i: int) -> float:
    """`slow_delay` for step `slow_at`, `delay` for the others."""
    if state.get("slow_at") == i:
        return state.get("slow_delay", 30.0)
    return state.get("delay", 0.0)


def events(run_id: str) -> list[tuple[int, str, float]]:
    with JOURNAL_LOCK:
        return [(step, what, t) for rid, step, what, t in JOURNAL if rid == run_id]


def saw(run_id: str, step: int, what: str) -> bool:
    return any(s == step and w == what for s, w, _ in events(run_id))


def _async_step(i: int):
    async def step(state: State, config) -> dict[str, Any]:
        record(config, i, "start")
        if state.get("fail_at") == i:
            raise ValueError(f"step {i} failed on purpose")
        try:
            await asyncio.sleep(delay_for(state, i))
        except asyncio.CancelledError:
            record(config, i, "cancelled")
            raise
        record(config, i, "end")
        return {"messages": [f"{state.get('tag', 'x')}:{i}"]}

    return step


def _sync_step(i: int):
    def step(state: State, config) -> dict[str, Any]:
        record(config, i, "start")
        if state.get("fail_at") == i:
            raise ValueError(f"step {i} failed on purpose")
        time.sleep(delay_for(state, i))
        record(config, i, "end")
        return {"messages": [f"{state.get('tag', 'x')}:{i}"]}

    return step


def build(make_step, steps: int = STEPS):
    builder = StateGraph(State)
    previous = START
    for i in range(steps):
        builder.add_node(f"step{i}", make_step(i))
        builder.add_edge(previous, f"step{i}")
        previous = f"step{i}"
    builder.add_edge(previous, END)
    return builder.compile()


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "approve?"})
    return {"messages": [f"answer:{answer}"]}


def talk(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    for i in range(3):
        writer({"progress": i})
    return {"messages": ["talked"]}


def single_node(name: str, node):
    builder = StateGraph(State)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile()


async_graph = build(_async_step)
sync_graph = build(_sync_step)
one_step = build(_async_step, steps=1)
hitl_graph = single_node("ask", ask)

GRAPHS = {
    "steps": async_graph,
    "sync_steps": sync_graph,
    "one": one_step,
    "hitl": hitl_graph,
    "custom": single_node("talk", talk),
}
