"""The bundled example: a pretend weather agent that answers in three slow steps, so a second message
can arrive while it is still working ("double texting"). No LLM, no network.

Input: {"messages": [{"role": "human", "content": "what's the weather in sf?"}]} (the content may also be a
list of content blocks, `[{"type": "text", "text": "..."}]`, as chat UIs send it)
Each step appends one AI message; `configurable.step_seconds` (default 1.5) sets how long a step takes.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _question(state: State) -> str:
    humans = [m for m in state["messages"] if m.type == "human"]
    # `.text` is the message's text also when a UI sends its content as a list of content blocks
    # (`[{"type": "text", "text": "..."}]`, as agent-chat-ui does), not the list's repr.
    return str(humans[-1].text) if humans else ""


async def _pause(config: RunnableConfig) -> None:
    await asyncio.sleep(float(config.get("configurable", {}).get("step_seconds", 1.5)))


async def think(state: State, config: RunnableConfig) -> dict[str, Any]:
    await _pause(config)
    return {"messages": [AIMessage(f"Thinking about: {_question(state)}")]}


async def look_up(state: State, config: RunnableConfig) -> dict[str, Any]:
    await _pause(config)
    place = _question(state).rstrip("?").split(" in ")[-1] if " in " in _question(state) else "there"
    return {"messages": [AIMessage(f"Looking up the forecast for {place}...")]}


async def answer(state: State, config: RunnableConfig) -> dict[str, Any]:
    await _pause(config)
    return {"messages": [AIMessage(f"It is sunny and 20°C. (You asked: {_question(state)})")]}


builder = StateGraph(State)
builder.add_node("think", think)
builder.add_node("look_up", look_up)
builder.add_node("answer", answer)
builder.add_edge(START, "think")
builder.add_edge("think", "look_up")
builder.add_edge("look_up", "answer")
builder.add_edge("answer", END)
graph = builder.compile()
