"""Extra graphs for the API tests: a parent with a subgraph, a node writing custom stream events,
a configurable node that echoes its config and context, and fake chat models streaming tokens."""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from .steps import GRAPHS


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    tag: str


def chain_graph(state_schema: Any, *nodes: tuple[str, Any], **options: Any):
    """START -> nodes in order -> END, compiled."""
    builder = StateGraph(state_schema, **options)
    previous = START
    for name, node in nodes:
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder.compile()


def _inner(state: State) -> dict[str, Any]:
    return {"messages": [f"inner:{state.get('tag', 'x')}"]}


def build_nested():
    inner = chain_graph(State, ("inner_step", _inner))
    return chain_graph(State, ("child", inner), ("after", lambda s: {"messages": ["outer:after"]}))


def _shout(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": 1})
    writer({"progress": 2})
    return {"messages": ["custom:done"]}


@dataclass
class Context:
    model: str = "default"


def _echo(state: State, config, runtime: Runtime[Context]) -> dict[str, Any]:
    configurable = config.get("configurable", {})
    model = runtime.context.model if runtime.context else None
    return {"messages": [f"model={model}", f"answer={configurable.get('answer')}"]}


def _chat(state: MessagesState) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("hello big world")]))
    return {"messages": [model.invoke(state["messages"])]}


def _chat_again(state: MessagesState) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("second one")]))
    return {"messages": [model.invoke(state["messages"])]}


def _no_tokens(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("whole at once", id="whole-1")]}


API_GRAPHS = {
    **GRAPHS,
    "nested": build_nested(),
    "custom": chain_graph(State, ("shout", _shout)),
    "echo": chain_graph(State, ("echo", _echo), context_schema=Context),
    "chat": chain_graph(MessagesState, ("chat", _chat)),
    "chat_twice": chain_graph(MessagesState, ("chat", _chat), ("chat_again", _chat_again), ("no_tokens", _no_tokens)),
}
