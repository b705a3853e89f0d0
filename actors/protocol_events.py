"""Protocol v2 events from a thread's run events: the thread feed's `values`, `updates|ns`,
`messages|ns` (LangGraph `messages` mode tuples), `custom`, `checkpoints`, `tasks`, `metadata` and
`error` events become the `@langchain/protocol` events of the channels values, updates, messages,
tools, custom, checkpoints, tasks, lifecycle and input (docs/api.md, "Protocol v2").

One `ProtocolTranslator` per thread, fed in order; it keeps what a conversion needs across events:
the message being streamed in each namespace, the subgraph namespaces open, the interrupts already
announced. It returns plain dicts (`method`, `params`); the log numbers them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

Namespace = list[str]

CHANNELS = ("values", "updates", "messages", "tools", "custom", "lifecycle", "input", "checkpoints", "tasks")

TERMINAL = {"success": "completed", "error": "failed", "timeout": "failed", "interrupted": "interrupted"}


def channel_of(method: str, data: Any) -> str:
    """The channel an event is delivered on (`custom:<name>` for a named custom event)."""
    if method.startswith("input."):
        return "input"
    if method == "custom" and isinstance(data, dict) and data.get("name") is not None:
        return f"custom:{data['name']}"
    return method


def _now_ms() -> int:
    return int(time.time() * 1000)


def _split(event_name: str) -> tuple[str, Namespace]:
    kind, *namespace = event_name.split("|")
    return kind, namespace


class _Message:
    """One AI message being streamed: its content blocks as they grow."""

    def __init__(self, message_id: str, node: str | None) -> None:
        self.id = message_id
        self.node = node
        self.positions: dict[Any, int] = {}  # the model's block key -> its position in the message
        self.blocks: dict[int, dict[str, Any]] = {}  # position -> the block so far
        self.open_index: Any = None
        self.usage: dict[str, Any] | None = None


class ProtocolTranslator:
    def __init__(self, graph_of: Callable[[str], str | None]) -> None:
        self._graph_of = graph_of  # run id -> graph id, for lifecycle's graph_name
        self._run_id: str | None = None
        self._graph_name: str | None = None
        self._messages: dict[tuple[str, ...], _Message] = {}
        self._open_namespaces: list[tuple[str, ...]] = []
        self._announced: set[str] = set()  # interrupt ids sent as input.requested in this run
        self._call_args: dict[str, Any] = {}  # tool call id -> its arguments, for tool-started's input
        self._error: str | None = None
        self.running = False

    # --- entry point -----------------------------------------------------------------------------

    def translate(self, event_name: str, data: Any, *, run_status: Callable[[str], str | None]) -> list[dict[str, Any]]:
        """The protocol events for one thread-feed event (often none, sometimes several)."""
        kind, namespace = _split(event_name)
        out: list[dict[str, Any]] = []
        if kind == "metadata" and isinstance(data, dict):
            if "attempt" in data and data.get("run_id"):
                self._start_run(str(data["run_id"]), out)
            elif data.get("status") == "run_done" and data.get("run_id") == self._run_id:
                self._end_run(run_status(str(data["run_id"])), out)
            return out
        if not self.running:
            return out
        if namespace:
            self._open_namespace(namespace, out)
        if kind == "values":
            self._values(namespace, data, out)
        elif kind == "updates":
            self._updates(namespace, data, out)
        elif kind == "messages":
            self._message_part(namespace, data, out)
        elif kind == "custom":
            self._emit(out, "custom", namespace, {"payload": data})
        elif kind == "checkpoints":
            self._checkpoint(namespace, data, out)
        elif kind == "tasks":
            self._emit(out, "tasks", namespace, data)
        elif kind == "error" and isinstance(data, dict):
            self._error = str(data.get("message") or data.get("error") or "error")
        return out

    # --- runs and namespaces (lifecycle) ----------------------------------------------------------

    def _start_run(self, run_id: str, out: list[dict[str, Any]]) -> None:
        self._run_id, self.running, self._error = run_id, True, None
        self._graph_name = self._graph_of(run_id)
        self._messages.clear()
        self._open_namespaces.clear()
        self._announced.clear()
        self._call_args.clear()
        self._emit(out, "lifecycle", [], self._lifecycle("running"))

    def _end_run(self, status: str | None, out: list[dict[str, Any]]) -> None:
        for key in list(self._messages):
            self._finish_message(key, out)
        for namespace in reversed(self._open_namespaces):
            self._emit(out, "lifecycle", list(namespace), {"event": "completed", "graph_name": namespace[-1].split(":")[0]})
        self._open_namespaces.clear()
        event = TERMINAL.get(status or "", "interrupted")
        if event == "completed" and self._announced:
            event = "interrupted"  # paused at interrupt(): the thread waits for input.respond
        data = self._lifecycle(event)
        if event == "failed" and self._error:
            data["error"] = self._error
        self._emit(out, "lifecycle", [], data)
        self.running, self._run_id = False, None

    def _lifecycle(self, event: str) -> dict[str, Any]:
        data: dict[str, Any] = {"event": event}
        if self._graph_name:
            data["graph_name"] = self._graph_name
        return data

    def _open_namespace(self, namespace: Namespace, out: list[dict[str, Any]]) -> None:
        for depth in range(1, len(namespace) + 1):
            key = tuple(namespace[:depth])
            if key not in self._open_namespaces:
                self._open_namespaces.append(key)
                graph_name = key[-1].split(":")[0]
                self._emit(out, "lifecycle", list(key), {"event": "started", "graph_name": graph_name})

    def _close_children(self, namespace: Namespace, node: str, out: list[dict[str, Any]]) -> None:
        """A node of `namespace` returned: the subgraphs it ran are over."""
        depth = len(namespace)
        for key in list(self._open_namespaces):
            if len(key) > depth and list(key[:depth]) == namespace and key[depth].split(":")[0] == node:
                for message_key in [k for k in self._messages if k[: len(key)] == key]:
                    self._finish_message(message_key, out)
                self._open_namespaces.remove(key)
                self._emit(out, "lifecycle", list(key), {"event": "completed", "graph_name": node})

    def tree(self) -> dict[str, Any]:
        """The running run's agent tree: the root and the subgraph namespaces open now."""
        root: dict[str, Any] = {"namespace": [], "status": "running", "graph_name": self._graph_name or "", "children": []}
        nodes: dict[tuple[str, ...], dict[str, Any]] = {(): root}
        for key in sorted(self._open_namespaces, key=len):
            node = {"namespace": list(key), "status": "running", "graph_name": key[-1].split(":")[0], "children": []}
            nodes[key] = node
            nodes.get(key[:-1], root)["children"].append(node)
        return root

    # --- passthrough channels --------------------------------------------------------------------

    def _values(self, namespace: Namespace, data: Any, out: list[dict[str, Any]]) -> None:
        if isinstance(data, dict) and "__interrupt__" in data:
            self._interrupts(namespace, data["__interrupt__"], out)
            data = {k: v for k, v in data.items() if k != "__interrupt__"}
        self._emit(out, "values", namespace, data)

    def _updates(self, namespace: Namespace, data: Any, out: list[dict[str, Any]]) -> None:
        if not isinstance(data, dict):
            return
        for node, values in data.items():
            if node == "__interrupt__":
                self._interrupts(namespace, values, out)
                continue
            self._close_children(namespace, node, out)
            for message in (values.get("messages") or []) if isinstance(values, dict) and isinstance(values.get("messages"), list) else []:
                for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
                    if isinstance(call, dict) and call.get("id"):
                        self._call_args.setdefault(call["id"], call.get("args"))
            self._emit(out, "updates", namespace, {"node": node, "values": values if isinstance(values, dict) else {}})

    def _interrupts(self, namespace: Namespace, interrupts: Any, out: list[dict[str, Any]]) -> None:
        for item in interrupts if isinstance(interrupts, list) else []:
            if not isinstance(item, dict) or not item.get("id") or item["id"] in self._announced:
                continue
            self._announced.add(item["id"])
            # The root's namespace, as the reference: input.respond names the interrupt by id.
            self._emit(out, "input.requested", [], {"interrupt_id": item["id"], "payload": item.get("value")})

    def _checkpoint(self, namespace: Namespace, data: Any, out: list[dict[str, Any]]) -> None:
        if not isinstance(data, dict):
            return
        config = (data.get("config") or {}).get("configurable") or {}
        parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
        metadata = data.get("metadata") or {}
        envelope: dict[str, Any] = {"id": config.get("checkpoint_id"), "step": metadata.get("step", 0), "source": metadata.get("source", "loop")}
        if parent:
            envelope["parent_id"] = parent
        self._emit(out, "checkpoints", namespace, envelope)

    # --- messages and tools ----------------------------------------------------------------------

    def _message_part(self, namespace: Namespace, data: Any, out: list[dict[str, Any]]) -> None:
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            return
        chunk, metadata = data[0], (data[1] if len(data) > 1 and isinstance(data[1], dict) else {})
        node = metadata.get("langgraph_node")
        kind = chunk.get("type")
        if kind == "tool":  # a tool's result, as ToolNode returns it
            self._tool_result(namespace, node, chunk, out)
            return
        if kind != "AIMessageChunk" and not (kind == "ai" and "tool_call_chunks" in chunk):
            return  # whole messages a node returned: they reach the client in `values`, as on the reference
        key = tuple(namespace)
        message = self._messages.get(key)
        if message is not None and message.id != chunk.get("id"):
            self._finish_message(key, out)
            message = None
        if message is None:
            message = self._messages[key] = _Message(str(chunk.get("id") or ""), node)
            self._emit(out, "messages", namespace, {"event": "message-start", "role": "ai", "id": message.id}, node=node)
        for index, block, delta in _deltas(chunk):
            self._grow_block(message, namespace, index, block, delta, out)
        if chunk.get("usage_metadata"):
            message.usage = chunk["usage_metadata"]
        if chunk.get("chunk_position") == "last":
            self._finish_message(key, out)

    def _grow_block(
        self, message: _Message, namespace: Namespace, index: Any, block: dict[str, Any], delta: dict[str, Any] | None, out: list[dict[str, Any]]
    ) -> None:
        node = message.node
        index = message.positions.setdefault(index, len(message.positions))  # the protocol's index: position in the message
        if message.open_index is not None and message.open_index != index:
            self._finish_block(message, namespace, out)
        if index not in message.blocks:
            message.blocks[index] = dict(block)
            message.open_index = index
            self._emit(out, "messages", namespace, {"event": "content-block-start", "index": index, "content": _empty(block)}, node=node)
        current = message.blocks[index]
        if delta is None:
            return
        if delta["type"] == "text-delta":
            current["text"] = current.get("text", "") + delta["text"]
        elif delta["type"] == "tool-call-delta":
            current["args"] = (current.get("args") or "") + delta["args"]
            for field in ("id", "name"):
                if block.get(field) and not current.get(field):
                    current[field] = block[field]
        self._emit(out, "messages", namespace, {"event": "content-block-delta", "index": index, "delta": delta}, node=node)

    def _finish_block(self, message: _Message, namespace: Namespace, out: list[dict[str, Any]]) -> None:
        index = message.open_index
        message.open_index = None
        block = message.blocks.get(index)
        if block is None:
            return
        finished = _finalized(block)
        if finished.get("type") == "tool_call" and finished.get("id"):
            self._call_args[finished["id"]] = finished.get("args")
        self._emit(out, "messages", namespace, {"event": "content-block-finish", "index": index, "content": finished}, node=message.node)

    def _finish_message(self, key: tuple[str, ...], out: list[dict[str, Any]]) -> None:
        message = self._messages.pop(key, None)
        if message is None:
            return
        self._finish_block(message, list(key), out)
        data: dict[str, Any] = {"event": "message-finish"}
        if message.usage:
            data["usage"] = {k: message.usage[k] for k in ("input_tokens", "output_tokens", "total_tokens") if k in message.usage}
        self._emit(out, "messages", list(key), data, node=message.node)

    def _tool_result(self, namespace: Namespace, node: str | None, message: dict[str, Any], out: list[dict[str, Any]]) -> None:
        call_id = str(message.get("tool_call_id") or "")
        started = {"event": "tool-started", "tool_call_id": call_id, "tool_name": message.get("name") or ""}
        if call_id in self._call_args:
            started["input"] = self._call_args.pop(call_id)
        self._emit(out, "tools", namespace, started, node=node)
        if message.get("status") == "error":
            self._emit(out, "tools", namespace, {"event": "tool-error", "tool_call_id": call_id, "message": str(message.get("content"))}, node=node)
        else:
            self._emit(out, "tools", namespace, {"event": "tool-finished", "tool_call_id": call_id, "output": message.get("content")}, node=node)

    # --- output ----------------------------------------------------------------------------------

    @staticmethod
    def _emit(out: list[dict[str, Any]], method: str, namespace: Namespace, data: Any, *, node: str | None = None) -> None:
        params: dict[str, Any] = {"namespace": list(namespace), "timestamp": _now_ms()}
        if node is not None:
            params["node"] = node
        params["data"] = data
        out.append({"method": method, "params": params})


def _deltas(chunk: dict[str, Any]) -> list[tuple[Any, dict[str, Any], dict[str, Any] | None]]:
    """(block index, block as it starts, delta) for each piece of content in a message chunk."""
    pieces: list[tuple[Any, dict[str, Any], dict[str, Any] | None]] = []
    content = chunk.get("content")
    if isinstance(content, str):
        if content:
            pieces.append((("text", 0), {"type": "text", "text": ""}, {"type": "text-delta", "text": content}))
    elif isinstance(content, list):
        for position, block in enumerate(content):
            if isinstance(block, str):
                pieces.append((("text", 0), {"type": "text", "text": ""}, {"type": "text-delta", "text": block}))
            elif isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
                index = ("text", block.get("index", position))
                pieces.append((index, {"type": "text", "text": ""}, {"type": "text-delta", "text": block["text"]}))
    for call in chunk.get("tool_call_chunks") or []:
        index = ("tool", call.get("index", 0))
        start = {"type": "tool_call_chunk", "id": call.get("id"), "name": call.get("name"), "args": ""}
        pieces.append((index, start, {"type": "tool-call-delta", "args": call.get("args") or ""}))
    return pieces


def _empty(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") == "text":
        return {"type": "text", "text": ""}
    return {k: v for k, v in block.items() if v is not None}


def _finalized(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") != "tool_call_chunk":
        return dict(block)
    try:
        args = json.loads(block.get("args") or "{}")
    except ValueError:
        return {"type": "invalid_tool_call", "id": block.get("id"), "name": block.get("name"), "args": block.get("args"), "error": "arguments are not JSON"}
    return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "args": args}
