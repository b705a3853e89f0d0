"""From an accepted `Run` to the `RunJob` its driver executes: graph, merged config, input."""

from __future__ import annotations

from typing import Any

import msgspec

from .driver import RunJob
from ..errors import InvalidInput
from ..config.users import configurable_user
from ..config.graphs import GraphRegistry
from ..models import Assistant, Run, RunOptions
from .options import check_run_options


def merged_config(assistant: Assistant, run: Run) -> dict[str, Any]:
    """Assistant config, then the run's config on top; identifiers LangGraph and rollback rely on;
    what the reference adds for the graph (`user_id`, `run_attempt` in the metadata)."""
    options = run.options
    requested: dict[str, Any] = options.config or {}
    config: dict[str, Any] = {**assistant.config, **requested}
    configurable = {
        **(assistant.config.get("configurable") or {}),
        **(requested.get("configurable") or {}),
        "thread_id": run.thread_id,
        "run_id": run.run_id,
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
    }
    # Who asked, as on the reference: `user_id` (given, else the authenticated user's, else ""),
    # and the user itself as an `AuthUser` (stored as its fields: config/users.py).
    configurable["user_id"] = configurable.get("user_id") or configurable.get("langgraph_auth_user_id") or ""
    if "langgraph_auth_user" in configurable:
        configurable["langgraph_auth_user"] = configurable_user(configurable)
    configurable.update(options.start_checkpoint())
    config["configurable"] = configurable
    # Checkpoint metadata gets these keys: rollback deletes the checkpoints whose run_id matches.
    config["metadata"] = {
        **(assistant.metadata or {}),
        **(requested.get("metadata") or {}),
        **run.metadata,
        "run_attempt": 1,  # the reference counts retries of a run; switchboard runs each once
        "run_id": run.run_id,
        "thread_id": run.thread_id,
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
    }
    return config


def build_job(run: Run, assistant: Assistant, graphs: GraphRegistry) -> RunJob:
    """The job for a run; a stored run whose options are unusable is an `InvalidInput`."""
    kwargs = run.kwargs
    if not isinstance(kwargs, dict):
        raise InvalidInput(f"the stored run's options are not an object ({type(kwargs).__name__})")
    check_run_options(kwargs)  # the shapes, with messages naming the field
    try:
        options = run.options
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"the stored run's options: {exc}") from None
    stream_mode = options.stream_mode or ["values"]
    if isinstance(stream_mode, str):
        stream_mode = [stream_mode]
    context = options.context
    if assistant.context:
        context = {**assistant.context, **(context or {})}
    if options.input is not None and options.command is not None:
        raise InvalidInput("input and command cannot both be given")
    return RunJob(
        run_id=run.run_id,
        thread_id=run.thread_id,
        graph_id=assistant.graph_id,
        graph=graphs.source(assistant.graph_id),
        config=merged_config(assistant, run),
        input=options.input,
        command=msgspec.structs.asdict(options.command) if options.command is not None else None,
        stream_mode=tuple(stream_mode),
        stream_subgraphs=bool(options.stream_subgraphs),
        interrupt_before=options.interrupt_before,
        interrupt_after=options.interrupt_after,
        context=context,
        durability=_durability(options),
    )


def _durability(options: RunOptions) -> str | None:
    """`durability`, or the older `checkpoint_during` it replaced (false: checkpoint at exit only)."""
    if options.durability is not None:
        return options.durability
    if options.checkpoint_during is not None:
        return "async" if options.checkpoint_during else "exit"
    return None
