"""Extra graphs for the API tests: a parent with a subgraph, a node writing custom stream events,
a configurable node that echoes its config and context, and a fake chat model streaming tokens."""

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


def _inner(state: State) -> dict[str, Any]:
    return {"messages": [f"inner:{state.get('tag', 'x')}"]}


def build_nested():
    inner = StateGraph(State)
    inner.add_node("inner_step", _inner)
    inner.add_edge(START, "inner_step")
    inner.add_edge("inner_step", END)
    outer = StateGraph(State)
    outer.add_node("child", inner.compile())
    outer.add_node("after", lambda s: {"messages": ["outer:after"]})
    outer.add_edge(START, "child")
    outer.add_edge("child", "after")
    outer.add_edge("after", END)
    return outer.compile()


def _shout(state: State) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": 1})
    writer({"progress": 2})
    return {"messages": ["custom:done"]}


def build_custom():
    builder = StateGraph(State)
    builder.add_node("shout", _shout)
    builder.add_edge(START, "shout")
    builder.add_edge("shout", END)
    return builder.compile()


@dataclass
class Context:
    model: str = "default"


def _echo(state: State, config, runtime: Runtime[Context]) -> dict[str, Any]:
    configurable = config.get("configurable", {})
    model = runtime.context.model if runtime.context else None
    return {"messages": [f"model={model}", f"answer={configurable.get('answer')}"]}


def build_echo():
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("echo", _echo)
    builder.add_edge(START, "echo")
    builder.add_edge("echo", END)
    return builder.compile()


def _chat(state: MessagesState) -> dict[str, Any]:
    model = GenericFakeChatModel(messages=itertools.cycle([AIMessage("hello big world")]))
    return {"messages": [model.invoke(state["messages"])]}


def build_chat():
    builder = StateGraph(MessagesState)
    builder.add_node("chat", _chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile()


API_GRAPHS = {**GRAPHS, "nested": build_nested(), "custom": build_custom(), "echo": build_echo(), "chat": build_chat()}
