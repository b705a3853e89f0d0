"""The graphs both servers serve in the differential test (tests/differential/).

This file is loaded by the reference server (`langgraph dev`, its own venv) as well as by switchboard, so
it imports only langgraph and langchain_core: nothing from this repository.

- `plain`: three steps appending "<tag>:<i>"; `fail_at: i` makes step i raise; `gate: name` makes step 1
  wait until the store item ("gates", name) exists (the test opens it), so a run can be caught running
  without sleeping for a guessed time.
- `nested`: a parent whose `child` node is a two-step subgraph (its second step writes a custom event).
- `hitl`: `ask` calls interrupt(), `answer` records the human's reply.
- `nested_hitl`: the interrupt happens inside a subgraph.
- `chat`: two nodes, each a fake chat model streaming tokens (no network); `nested_chat`: one of them
  inside a subgraph.
- `custom`: a node writing custom stream events.
- `echo`: a node echoing its context and `configurable`.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_store, get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict

GATE_TIMEOUT = 60.0


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    tag: str
    fail_at: int
    gate: str


def chain(state_schema: Any, *nodes: tuple[str, Any], **options: Any) -> StateGraph:
    builder = StateGraph(state_schema, **options)
    previous = START
    for name, node in nodes:
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder


async def wait_for_gate(name: str) -> None:
    store = get_store()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GATE_TIMEOUT
    while await store.aget(("gates",), name) is None:
        if loop.time() > deadline:
            raise TimeoutError(f"gate {name!r} was never opened")
        await asyncio.sleep(0.02)


def step(i: int):
    async def run_step(state: State) -> dict[str, Any]:
        if state.get("fail_at") == i:
            raise ValueError(f"step {i} failed on purpose")
        if i == 1 and state.get("gate"):
            await wait_for_gate(state["gate"])
        return {"messages": [f"{state.get('tag', 'x')}:{i}"]}

    run_step.__name__ = f"step{i}"
    return run_step


plain = chain(State, *((f"step{i}", step(i)) for i in range(3))).compile()

def inner_b(state: State) -> dict[str, Any]:
    get_stream_writer()({"from": "inner_b"})  # custom events from inside a subgraph
    return {"messages": ["inner:b"]}


child = chain(State, ("inner_a", lambda s: {"messages": ["inner:a"]}), ("inner_b", inner_b))
nested = chain(State, ("child", child.compile()), ("after", lambda s: {"messages": ["outer:after"]})).compile()


def ask(state: State) -> dict[str, Any]:
    reply = interrupt({"question": f"approve {state.get('tag', 'x')}?"})
    return {"messages": [f"human:{reply}"]}


hitl = chain(State, ("prepare", lambda s: {"messages": ["prepared"]}), ("ask", ask),
             ("finish", lambda s: {"messages": ["finished"]})).compile()

inner_hitl = chain(State, ("inner_ask", ask)).compile()
nested_hitl = chain(State, ("child", inner_hitl), ("after", lambda s: {"messages": ["outer:after"]})).compile()


def say(text: str):
    def node(state: MessagesState) -> dict[str, Any]:
        model = GenericFakeChatModel(messages=itertools.cycle([AIMessage(text)]))
        return {"messages": [model.invoke(state["messages"])]}

    return node


chat = chain(MessagesState, ("greet", say("hello big world")), ("close", say("bye now"))).compile()
nested_chat = chain(MessagesState, ("talk", chain(MessagesState, ("inner_greet", say("hi from inside"))).compile()),
                    ("close", say("bye now"))).compile()


def shout(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": 1})
    writer({"progress": 2})
    return {"messages": ["custom:done"]}


custom = chain(State, ("shout", shout)).compile()


@dataclass
class Context:
    model: str = "default"


def echo_node(state: State, config, runtime: Runtime[Context]) -> dict[str, Any]:
    configurable = config.get("configurable", {})
    model = runtime.context.model if runtime.context else None
    return {"messages": [f"model={model}", f"answer={configurable.get('answer')}"]}


echo = chain(State, ("echo", echo_node), context_schema=Context).compile()
