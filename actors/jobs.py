"""From an accepted `Run` to the `RunJob` its driver executes: graph, merged config, input."""

from __future__ import annotations

from typing import Any

from .driver import RunJob
from .errors import InvalidInput
from .graphs import GraphRegistry
from .models import Assistant, Run
from .options import check_run_options


def merged_config(assistant: Assistant, run: Run) -> dict[str, Any]:
    """Assistant config, then the run's config on top; identifiers LangGraph and rollback rely on."""
    requested: dict[str, Any] = run.kwargs.get("config") or {}
    config: dict[str, Any] = {**assistant.config, **requested}
    configurable = {
        **(assistant.config.get("configurable") or {}),
        **(requested.get("configurable") or {}),
        "thread_id": run.thread_id,
        "run_id": run.run_id,
        "assistant_id": assistant.assistant_id,
        "graph_id": assistant.graph_id,
    }
    checkpoint = run.kwargs.get("checkpoint") or {}
    checkpoint_id = run.kwargs.get("checkpoint_id") or checkpoint.get("checkpoint_id")
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    if checkpoint.get("checkpoint_ns"):
        configurable["checkpoint_ns"] = checkpoint["checkpoint_ns"]
    config["configurable"] = configurable
    # Checkpoint metadata gets these keys: rollback deletes the checkpoints whose run_id matches.
    config["metadata"] = {
        **(assistant.metadata or {}),
        **(requested.get("metadata") or {}),
        **run.metadata,
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
    check_run_options(kwargs)
    stream_mode = kwargs.get("stream_mode") or ["values"]
    if isinstance(stream_mode, str):
        stream_mode = [stream_mode]
    context = kwargs.get("context")
    if assistant.context:
        context = {**assistant.context, **(context or {})}
    if kwargs.get("input") is not None and kwargs.get("command") is not None:
        raise InvalidInput("input and command cannot both be given")
    return RunJob(
        run_id=run.run_id,
        thread_id=run.thread_id,
        graph_id=assistant.graph_id,
        graph=graphs.source(assistant.graph_id),
        config=merged_config(assistant, run),
        input=kwargs.get("input"),
        command=kwargs.get("command"),
        stream_mode=tuple(stream_mode),
        stream_subgraphs=bool(kwargs.get("stream_subgraphs")),
        interrupt_before=kwargs.get("interrupt_before"),
        interrupt_after=kwargs.get("interrupt_after"),
        context=context,
        durability=_durability(kwargs),
    )


def _durability(kwargs: dict[str, Any]) -> str | None:
    """`durability`, or the older `checkpoint_during` it replaced (false: checkpoint at exit only)."""
    if kwargs.get("durability") is not None:
        return kwargs["durability"]
    if kwargs.get("checkpoint_during") is not None:
        return "async" if kwargs["checkpoint_during"] else "exit"
    return None
