"""Graphs for the protocol v2 tests (also run on the reference server to compare wire traffic):
a chat model streaming tokens slowly, a human-in-the-loop question, a parent with a subgraph, a model calling a tool."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.config import get_stream_writer
from langgraph.prebuilt import ToolNode
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


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class ToolCaller(BaseChatModel):
    """A fake chat model that streams one call of `add`, its arguments in two pieces."""

    @property
    def _llm_type(self) -> str:
        return "tool-caller"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "call-1"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))])

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):
        pieces = [{"name": "add", "args": '{"a": 2,', "id": "call-1", "index": 0}, {"name": None, "args": ' "b": 3}', "id": None, "index": 0}]
        for piece in pieces:
            chunk = ChatGenerationChunk(message=AIMessageChunk("", tool_call_chunks=[piece]))
            if run_manager is not None:
                await run_manager.on_llm_new_token("", chunk=chunk)
            yield chunk


async def call_tool(state: MessagesState, config) -> dict[str, Any]:
    return {"messages": [await ToolCaller().ainvoke(state["messages"], config)]}


tools = _chain(MessagesState, ("model", call_tool), ("tools", ToolNode([add])))
