"""What a run carries besides its request, as the reference server stamps it: its metadata (the
assistant's, the thread's and the request's, merged) and who asked for it (in its config).

Called once, when a run is prepared (`Operations.prepare_run`), so the run record shows it and a
queued run executes with what held when it was asked for.
"""

from __future__ import annotations

from typing import Any

from ..config.users import REQUEST_USER, auth_configurable
from ..models import Assistant, Thread


def run_metadata(assistant: Assistant, thread: Thread | None, options: dict[str, Any]) -> dict[str, Any]:
    """A run's metadata, merged as the reference merges it: the assistant's, then the thread's (with
    the graph and assistant the run now uses), the request config's `metadata`, the request's
    `metadata`; `assistant_id` is always the run's. A thread the run itself creates (`thread` None:
    a stateless run, `if_not_exists="create"`) adds nothing, so such a run's metadata has no `graph_id`."""
    config = options.get("config")
    config_metadata = config.get("metadata") if isinstance(config, dict) else None
    on_thread = {**thread.metadata, "graph_id": assistant.graph_id, "assistant_id": assistant.assistant_id} if thread else {}
    return {
        **(assistant.metadata or {}),
        **on_thread,
        **(config_metadata if isinstance(config_metadata, dict) else {}),
        **(options.get("metadata") or {}),
        "assistant_id": assistant.assistant_id,
    }


def with_requester(config: dict[str, Any] | None, graph_id: str) -> dict[str, Any]:
    """The run's config with who asked in `configurable` (`langgraph_auth_user`, `_user_id`,
    `_permissions`: the request's user, `REQUEST_USER`), over whatever the request put there, so a
    graph can trust it; a request without auth gets the reference's `None`, `""`, `[]`. Also the
    graph it was asked of, as the reference's resolved run shows it (a stateless run's metadata has none)."""
    config = dict(config or {})
    config["configurable"] = {
        **(config.get("configurable") or {}), **auth_configurable(REQUEST_USER.get()), "graph_id": graph_id,
    }
    return config
