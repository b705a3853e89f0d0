"""The bundled benchmark graph: `steps` steps in a row, each sleeping `delay` seconds (an async sleep, so
an interrupt cancels it mid-way), then appending `"<run_id>:<step>"` to `done` in the state.

Every step also appends JSON lines to a journal file named by `SWITCHBOARD_LOADTEST_JOURNAL` -
`{"thread", "run", "step", "event": "start" | "end" | "cancel", "t"}` with `t` the wall clock - so the
checker sees execution from the graph's side for any server that loads this graph: switchboard
embedded or over HTTP, and the reference server (`langgraph dev`). The state's `done` list shows which
steps' outputs survived (rolled-back runs must leave none; nothing is duplicated).

Input: `{"steps": k, "delay": seconds}` (defaults 1 and 0). At most `MAX_STEPS` steps.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import threading
import time
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

MAX_STEPS = 20
JOURNAL_ENV = "SWITCHBOARD_LOADTEST_JOURNAL"


class Journal:
    """Appends one JSON line per event to a file, with O_APPEND writes (atomic for short lines, so
    several processes or threads may share the file). Opened lazily; reopened if the path changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None
        self._fd: int | None = None

    def write(self, event: dict[str, Any]) -> None:
        path = os.environ.get(JOURNAL_ENV)
        if not path:
            return
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._path != path:
                if self._fd is not None:
                    os.close(self._fd)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._path = path
            os.write(self._fd, line)  # type: ignore[arg-type]


JOURNAL = Journal()


class BenchState(TypedDict, total=False):
    done: Annotated[list[str], operator.add]
    steps: int
    delay: float


def _ids(config: RunnableConfig) -> tuple[str, str]:
    configurable = (config or {}).get("configurable", {})
    return str(configurable.get("thread_id", "?")), str(configurable.get("run_id", "?"))


def make_step(i: int):
    async def step(state: BenchState, config: RunnableConfig) -> dict[str, Any]:
        thread_id, run_id = _ids(config)
        record = {"thread": thread_id, "run": run_id, "step": i, "pid": os.getpid()}  # pid: which process of a cluster ran it
        JOURNAL.write({**record, "event": "start", "t": time.time()})
        try:
            delay = float(state.get("delay") or 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            JOURNAL.write({**record, "event": "cancel", "t": time.time()})
            raise
        JOURNAL.write({**record, "event": "end", "t": time.time()})
        return {"done": [f"{run_id}:{i}"]}

    step.__name__ = f"step{i}"
    return step


def _after(i: int):
    def route(state: BenchState) -> str:
        steps = min(max(int(state.get("steps") or 1), 1), MAX_STEPS)
        return f"step{i + 1}" if i + 1 < steps else END

    return route


def build_graph(max_steps: int = MAX_STEPS) -> StateGraph:
    builder = StateGraph(BenchState)
    for i in range(max_steps):
        builder.add_node(f"step{i}", make_step(i))
    builder.add_edge(START, "step0")
    for i in range(max_steps - 1):
        builder.add_conditional_edges(f"step{i}", _after(i), [f"step{i + 1}", END])
    builder.add_edge(f"step{max_steps - 1}", END)
    return builder


graph = build_graph().compile()
"""The compiled graph, without a checkpointer (servers bind their own)."""

CONFIG_PATH = os.path.join(os.path.dirname(__file__), "langgraph.json")
"""A langgraph.json serving `graph` as "bench" (for `switchboard serve` and `langgraph dev`)."""
GRAPH_ID = "bench"
