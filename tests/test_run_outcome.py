"""How a run's end is read (actors/runs/driver.py): a run that simply completes takes its final values
from its last `values` chunk; graphs whose stream would not show the whole state or a pause must
still have their state read. Each case compares the join result and thread status with the
checkpointed state."""

from __future__ import annotations

from typing import Annotated, TypedDict

import operator
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from actors import ActorSystem
from actors.runs.driver import values_are_state


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    secret: str


class Out(TypedDict, total=False):
    log: list[str]


async def first(state: State) -> State:
    return {"log": ["first"], "secret": "kept"}


async def second(state: State) -> State:
    return {"log": ["second"]}


async def asks(state: State) -> State:
    answer = interrupt("continue?")
    return {"log": [f"answer:{answer}"]}


def chain(*nodes, **compile_kwargs):
    builder = StateGraph(State)
    for node in nodes:
        builder.add_node(node.__name__, node)
    names = [START, *(n.__name__ for n in nodes), END]
    for a, b in zip(names, names[1:]):
        builder.add_edge(a, b)
    return builder.compile(**compile_kwargs)


def narrowed_output():
    builder = StateGraph(State, output_schema=Out)
    builder.add_node("first", first)
    builder.add_edge(START, "first")
    builder.add_edge("first", END)
    return builder.compile()


def with_paused_subgraph():
    builder = StateGraph(State)
    builder.add_node("inner", chain(first, second, interrupt_before=["second"]))
    builder.add_edge(START, "inner")
    builder.add_edge("inner", END)
    return builder.compile()


GRAPHS = {
    "plain": chain(first, second),
    "narrowed": narrowed_output(),
    "asks": chain(first, asks),
    "breakpoint": chain(first, second, interrupt_before=["second"]),
    "paused_subgraph": with_paused_subgraph(),
}


@pytest.fixture(scope="module")
def system():
    with ActorSystem(GRAPHS) as system:
        yield system


def run(system, graph, **options):
    thread_id = system.threads.create()["thread_id"]
    output = system.runs.wait(thread_id, graph, input={"log": []}, **options)
    return thread_id, output, system.threads.get(thread_id), system.threads.get_state(thread_id)


def test_which_graphs_may_skip_the_state_read():
    assert values_are_state(GRAPHS["plain"]) and values_are_state(GRAPHS["asks"])
    assert not values_are_state(GRAPHS["narrowed"])  # its values stream leaves `secret` out
    assert not values_are_state(GRAPHS["breakpoint"])
    assert not values_are_state(GRAPHS["paused_subgraph"])  # pauses without `__interrupt__`


def test_a_completed_run_ends_with_the_checkpointed_values(system):
    _, output, thread, state = run(system, "plain")
    assert output == state["values"] == thread["values"] == {"log": ["first", "second"], "secret": "kept"}
    assert thread["status"] == "idle"


def test_a_narrowed_output_still_ends_with_the_whole_state(system):
    _, output, thread, state = run(system, "narrowed")
    assert output == thread["values"] == state["values"] == {"log": ["first"], "secret": "kept"}


def test_a_run_asked_only_for_updates_still_ends_with_its_values(system):
    _, output, thread, _ = run(system, "plain", stream_mode=["updates"])
    assert output == thread["values"] == {"log": ["first", "second"], "secret": "kept"}


@pytest.mark.parametrize("graph", ["asks", "breakpoint", "paused_subgraph"])
def test_a_paused_run_leaves_its_thread_interrupted(system, graph):
    _, output, thread, state = run(system, graph)
    assert thread["status"] == "interrupted"
    assert state["next"]
    assert thread["values"] == state["values"]
    if graph == "asks":
        assert output["__interrupt__"][0]["value"] == "continue?"


def test_a_breakpoint_given_with_the_run_pauses_it(system):
    _, _, thread, state = run(system, "plain", interrupt_before=["second"])
    assert thread["status"] == "interrupted"
    assert state["next"] == ["second"]
    assert thread["values"] == {"log": ["first"], "secret": "kept"}
