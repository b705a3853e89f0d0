"""Memory stays flat in threads seen only if idle thread actors really go away - whatever touched
them last (found by the memory benchmark: a patch, or a finished run, left actors alive for good)."""

from __future__ import annotations

from actors import ActorSystem, Settings
from loadtest.graph import GRAPH_ID, graph
from tests.conftest import wait_until


def test_idle_thread_actors_are_passivated_whatever_touched_them():
    with ActorSystem({GRAPH_ID: graph}, settings=Settings(idle_timeout=0.05)) as system:
        patched = [system.threads.create()["thread_id"] for _ in range(20)]
        for thread_id in patched:
            system.threads.update(thread_id, metadata={"touched": True})
        ran = system.threads.create()["thread_id"]
        system.runs.wait(ran, GRAPH_ID, input={"steps": 2})
        system.threads.update(ran, metadata={"after": "run"})
        assert system.live_thread_actors() > 0
        wait_until(lambda: system.live_thread_actors() == 0, timeout=10)
        # A passivated thread comes back on the next message, with its state.
        state = system.runs.wait(ran, GRAPH_ID, input={"steps": 1})
        assert len(state["done"]) == 3
        assert system.threads.get(ran)["metadata"]["after"] == "run"
