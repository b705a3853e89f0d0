"""Graphs for the protocol v2 tests (also run on the reference server to compare wire traffic):
a chat model streaming tokens slowly, a human-in-the-loop question, a parent with a subgraph."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class SlowTokens(GenericFakeChatModel):
    """A fake chat model that waits `delay` seconds between tokens, so a stream can be cut mid-message."""

    delay: float = 0.05

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        async for chunk in super()._astream(messages, stop=stop, run_manager=run_manager, **kwargs):
            await asyncio.sleep(self.delay)
            yield chunk


def _last_text(state: MessagesState) -> str:
    last = state["messages"][-1] if state["messages"] else None
    content = getattr(last, "content", "") if last is not None else ""
    if isinstance(content, list):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return str(content)


async def chat_node(state: MessagesState, config) -> dict[str, Any]:
    text = _last_text(state)
    words = int((config.get("configurable") or {}).get("words", 8))
    answer = " ".join([f"echo:{text}"] + [f"w{i}" for i in range(words)])
    model = SlowTokens(messages=iter([AIMessage(answer)]))
    get_stream_writer()({"thinking": text})
    return {"messages": [await model.ainvoke(state["messages"], config)]}


def ask_node(state: MessagesState) -> dict[str, Any]:
    answer = interrupt({"question": "approve?"})
    return {"messages": [AIMessage(f"answer:{answer}")]}


def _chain(schema: Any, *nodes: tuple[str, Any]):
    builder = StateGraph(schema)
    previous = START
    for name, node in nodes:
        builder.add_node(name, node)
        builder.add_edge(previous, name)
        previous = name
    builder.add_edge(previous, END)
    return builder.compile()


class Counter(TypedDict, total=False):
    items: Annotated[list[str], operator.add]


chat = _chain(MessagesState, ("chat", chat_node))
hitl = _chain(MessagesState, ("ask", ask_node), ("chat", chat_node))
nested = _chain(Counter, ("child", _chain(Counter, ("inner", lambda s: {"items": ["inner"]}))), ("after", lambda s: {"items": ["after"]}))
