"""Protocol v2 commands on a thread (`POST /threads/{id}/commands`, and the WebSocket's commands
other than `subscription.*`): `run.start`, `input.respond`, `agent.getTree`. Each takes the command
dict (`{"id", "method", "params"}`) and returns the protocol's reply dict, success or error.

`run.start` and `input.respond` create ordinary runs through `Operations` (so the thread actor
applies the multitask strategy exactly as on the runs API), streaming every mode the protocol's
channels are made of, with subgraphs; the thread's protocol log follows the thread before the run
is submitted, so no event of the run is missed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from .errors import NotFound, SwitchboardError
from .models import Strategy

# Every LangGraph stream mode the protocol's channels are built from (protocol_events.py).
PROTOCOL_STREAM_MODES = ["values", "updates", "messages-tuple", "custom", "checkpoints", "tasks"]

# The reference answers these with `unknown_command` too (langgraph-api 0.16.7).
NOT_SERVED = ("state.get", "state.listCheckpoints", "state.fork", "input.inject", "run.cancel")


class CommandError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def error_reply(command_id: Any, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "id": command_id, "error": code, "message": message, **extra}


def malformed(command: Any) -> dict[str, Any] | None:
    """The error reply for something that is not a command (no integer id or string method)."""
    if isinstance(command, dict) and isinstance(command.get("id"), int) and not isinstance(command.get("id"), bool) and isinstance(command.get("method"), str):
        return None
    command_id = command.get("id") if isinstance(command, dict) and isinstance(command.get("id"), int) else None
    return error_reply(command_id, "invalid_argument", "Protocol commands must include an integer id and string method.")


class ProtocolCommands:
    def __init__(self, door: Any, *, create_threads: bool = True, status_of: Callable[[SwitchboardError], int]) -> None:
        self.door = door  # storage calls go through it, off the event loop (actors/door.py)
        self.status_of = status_of
        """The HTTP status of a domain error (the server's table): the reference's error messages name it."""
        self.ops = ops = door.ops
        self.logs = ops.ctx.protocol
        self.create_threads = create_threads
        """Whether `run.start` makes a missing thread (not with auth on: it would have no owner)."""

    async def handle(self, thread_id: str, command: dict[str, Any]) -> dict[str, Any]:
        method, params = command["method"], command.get("params")
        if params is None:
            params = {}
        try:
            if not isinstance(params, dict):
                raise CommandError("invalid_argument", f"{method}: params must be an object")
            handler = _HANDLERS.get(method)
            if handler is None:
                raise CommandError("unknown_command", f"Unknown protocol command: {method}")
            result = await handler(self, thread_id, params)
        except CommandError as exc:
            return {**error_reply(command["id"], exc.code, exc.message, **exc.extra), "meta": self._meta(thread_id)}
        except SwitchboardError as exc:  # as the reference: the HTTP status and detail, in the message
            return {**error_reply(command["id"], "unknown_error", f"{self.status_of(exc)}: {exc.detail}"), "meta": self._meta(thread_id)}
        return {"type": "success", "id": command["id"], "result": result, "meta": self._meta(thread_id)}

    def _meta(self, thread_id: str) -> dict[str, Any]:
        log = self.logs.peek(thread_id)
        return {"applied_through_seq": log.last_seq if log is not None else 0}

    # --- run.start -------------------------------------------------------------------------------

    async def run_start(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        assistant_id = params.get("assistant_id")
        if not isinstance(assistant_id, str) or not assistant_id:
            raise CommandError("invalid_argument", "run.start requires an assistant_id.")
        options = self._run_options(params, "run.start")
        try:
            thread = await self.door.call(self.ops.get_thread, thread_id)
        except NotFound:
            thread = None  # made by the run (`if_not_exists="create"`), or refused there
        if thread is not None and thread.status == "interrupted" and thread.interrupts:
            # The protocol's state machine (and the reference): on a thread paused at interrupt(),
            # run.start resumes it with the input as the resume value.
            options["command"] = {"resume": params.get("input")}
        else:
            options["input"] = params.get("input")
        return {"run_id": await self._submit(thread_id, assistant_id, options)}

    def _run_options(self, params: dict[str, Any], method: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        # The SDK sends both spellings; the reference reads the camelCase one, so it wins.
        strategy = params.get("multitaskStrategy", params.get("multitask_strategy"))
        if strategy is not None:
            if strategy not in get_args(Strategy):
                raise CommandError("invalid_argument", f"{method}: multitaskStrategy {strategy!r} is not one of {list(get_args(Strategy))}")
            options["multitask_strategy"] = strategy
        for field in ("config", "metadata", "context"):
            value = params.get(field)
            if value is not None:
                if not isinstance(value, dict):
                    raise CommandError("invalid_argument", f"{method}: {field} must be an object")
                options[field] = value
        return options

    async def _submit(self, thread_id: str, assistant_id: str, options: dict[str, Any]) -> str:
        self.logs.get(thread_id)  # follow the thread before the run can publish anything
        run = await self.door.call(
            self.ops.create_run,
            thread_id, assistant_id, stream_mode=PROTOCOL_STREAM_MODES, stream_subgraphs=True,
            if_not_exists="create" if self.create_threads else "reject", **options,
        )
        return run.run_id

    # --- input.respond ---------------------------------------------------------------------------

    async def input_respond(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        if "responses" in params:
            entries = params["responses"]
            if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
                raise CommandError("invalid_argument", "input.respond: responses must be a non-empty array of {namespace, interrupt_id, response}")
        else:
            entries = [params]
        answers: dict[str, Any] = {}
        for entry in entries:
            interrupt_id = entry.get("interrupt_id")
            if not isinstance(interrupt_id, str) or not interrupt_id:
                raise CommandError("invalid_argument", "input.respond requires an interrupt_id.")
            if "response" not in entry:
                raise CommandError("invalid_argument", "input.respond requires a response.")
            answers[interrupt_id] = entry["response"]
        thread = await self.door.call(self.ops.get_thread, thread_id)
        pending = {i.get("id") for items in (thread.interrupts or {}).values() for i in items}
        for interrupt_id in answers:
            if interrupt_id not in pending:
                raise CommandError("no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}")
        runs = await self.door.call(self.ops.list_runs, thread_id, 1)
        if not runs:
            raise CommandError("no_such_run", "No run of this thread is waiting for input.")
        options = self._run_options(params, "input.respond")
        command: dict[str, Any] = {"resume": answers}
        for field in ("update", "goto"):
            if params.get(field) is not None:
                command[field] = params[field]
        options["command"] = command
        await self._submit(thread_id, runs[0].assistant_id, options)
        return {}

    # --- agent.getTree ---------------------------------------------------------------------------

    async def agent_get_tree(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        log = self.logs.peek(thread_id)
        tree = log.tree() if log is not None else None
        if tree is None:
            raise CommandError("no_such_run", "No active run is bound to this thread.")
        return {"tree": tree}

    async def subscription_over_http(self, thread_id: str, params: dict[str, Any]) -> dict[str, Any]:
        raise CommandError(
            "not_supported",
            "subscription commands belong to the WebSocket transport; over HTTP, open POST /threads/{thread_id}/stream/events",
        )


_HANDLERS = {
    "run.start": ProtocolCommands.run_start,
    "input.respond": ProtocolCommands.input_respond,
    "agent.getTree": ProtocolCommands.agent_get_tree,
    "subscription.subscribe": ProtocolCommands.subscription_over_http,
    "subscription.unsubscribe": ProtocolCommands.subscription_over_http,
    "subscription.reconnect": ProtocolCommands.subscription_over_http,
}
