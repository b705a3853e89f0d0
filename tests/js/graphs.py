"""The graphs the JS client matrix and the browser test run (tests/js/langgraph.json): streamed chat
messages, a subgraph that streams tokens and custom events, a human-in-the-loop pause, slow steps."""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph

from tests.graphs.api_graphs import API_GRAPHS, chain_graph


def _say(text: str):
    def node(state: MessagesState) -> dict[str, Any]:
        model = GenericFakeChatModel(messages=itertools.cycle([AIMessage(text)]))
        return {"messages": [model.invoke(state["messages"])]}

    return node


def _inner(state: MessagesState) -> dict[str, Any]:
    writer = get_stream_writer()
    writer({"progress": "inner"})
    return _say("from the subgraph")(state)


def _build_nested_chat():
    inner = chain_graph(MessagesState, ("inner", _inner))
    builder = StateGraph(MessagesState)
    builder.add_node("child", inner)
    builder.add_node("after", lambda s: {"messages": [AIMessage("after the subgraph", id="after-1")]})
    builder.add_edge(START, "child")
    builder.add_edge("child", "after")
    builder.add_edge("after", END)
    return builder.compile()


steps = API_GRAPHS["steps"]
hitl = API_GRAPHS["hitl"]
chat = API_GRAPHS["chat_twice"]
nested_chat = _build_nested_chat()
