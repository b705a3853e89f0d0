"""What a run's options may hold, checked where a run comes in (HTTP, embedded callers, crons) and
again before a stored run starts: a record written by an older version, or by hand, that the driver
cannot use ends the run `error` with the message below instead of wedging its thread.

Each problem is an `InvalidInput` naming the field (`config.configurable: expected an object, got
str`), so the HTTP door answers 422 with it. The option *names* and choices (strategy, stream mode,
...) are checked by `Operations._validate_options`; this module checks the shapes and bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import BadRequest, InvalidInput
from .models import Run

MAX_AFTER_SECONDS = 366 * 24 * 3600.0
"""A delayed run waits at most a (leap) year; beyond that it is a mistake, not a schedule (use a cron)."""

MAX_RECURSION_LIMIT = 100_000

BOTH_CONFIGURABLE_AND_CONTEXT = (
    "Cannot specify both configurable and context. Prefer setting context alone. Context was introduced in "
    "LangGraph 0.6.0 and is the long term planned replacement for configurable."
)

_CONFIG_OBJECTS = ("configurable", "metadata")
_JSON_TYPES = (str, int, float, bool, dict, list)  # what a callback handler decoded from JSON would be
_CHECKPOINT_STRINGS = ("checkpoint_id", "checkpoint_ns", "thread_id")


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _object(field: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field}: expected an object, got {_type(value)}")


def _strings(field: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{field}: expected an array of strings, got {_type(value)}")


def _bool(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}: expected true or false, got {_type(value)}")


def check_config(config: Any, field: str = "config") -> None:
    """A RunnableConfig as a client may send it: the parts LangGraph reads must have their types."""
    _object(field, config)
    for key in _CONFIG_OBJECTS:
        if config.get(key) is not None:
            _object(f"{field}.{key}", config[key])
    configurable = config.get("configurable") or {}
    reserved = sorted(k for k in configurable if isinstance(k, str) and k.startswith("__pregel_"))
    if reserved:  # LangGraph's own plumbing (checkpointer, store, send, ...): a string there breaks the run
        raise InvalidInput(f"{field}.configurable.{reserved[0]}: reserved for LangGraph's internals")
    if configurable.get("checkpoint_map") is not None:
        _object(f"{field}.configurable.checkpoint_map", configurable["checkpoint_map"])
    if config.get("tags") is not None:
        _strings(f"{field}.tags", config["tags"])
    if config.get("run_name") is not None and not isinstance(config["run_name"], str):
        raise InvalidInput(f"{field}.run_name: expected a string, got {_type(config['run_name'])}")
    limit = config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RECURSION_LIMIT):
        raise InvalidInput(f"{field}.recursion_limit: expected an integer from 1 to {MAX_RECURSION_LIMIT}, got {limit!r}")
    callbacks = config.get("callbacks")
    handlers = callbacks if isinstance(callbacks, list) else [callbacks]
    if callbacks is not None and any(isinstance(handler, _JSON_TYPES) for handler in handlers):
        raise InvalidInput(f"{field}.callbacks: expected callback handlers (Python objects), got {_type(callbacks)} data")
    most = config.get("max_concurrency")
    if most is not None and (isinstance(most, bool) or not isinstance(most, int) or most < 1):
        raise InvalidInput(f"{field}.max_concurrency: expected an integer >= 1, got {most!r}")


def check_command(command: Any) -> None:
    """`{"resume"?, "update"?, "goto"?}`: `goto` a node name, a `{"node", "input"}` send, or a list of them."""
    _object("command", command)
    goto = command.get("goto")
    if goto is not None:
        for target in goto if isinstance(goto, list) else [goto]:
            if not isinstance(target, str) and not (isinstance(target, Mapping) and isinstance(target.get("node"), str)):
                raise InvalidInput(f"command.goto: expected a node name or {{\"node\": ..., \"input\": ...}}, got {target!r}")
    update = command.get("update")
    if update is not None and not isinstance(update, (Mapping, list)):
        raise InvalidInput(f"command.update: expected an object (or a list of [key, value] pairs), got {_type(update)}")


def check_after_seconds(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"after_seconds: expected a number of seconds, got {value!r}")
    if not 0 <= value <= MAX_AFTER_SECONDS:
        raise InvalidInput(f"after_seconds: must be between 0 and {MAX_AFTER_SECONDS:.0f} (366 days), got {value}")


def check_run_options(options: Mapping[str, Any]) -> None:
    """The shapes and bounds of a run's options (absent or null options are not checked)."""
    given = {k: v for k, v in options.items() if v is not None}
    if "config" in given:
        check_config(given["config"])
    for key in ("context", "metadata"):
        if key in given:
            _object(key, given[key])
    if "checkpoint" in given:
        checkpoint = given["checkpoint"]
        _object("checkpoint", checkpoint)
        for key in _CHECKPOINT_STRINGS:
            if checkpoint.get(key) is not None and not isinstance(checkpoint[key], str):
                raise InvalidInput(f"checkpoint.{key}: expected a string, got {_type(checkpoint[key])}")
        if checkpoint.get("checkpoint_map") is not None:
            _object("checkpoint.checkpoint_map", checkpoint["checkpoint_map"])
    if "checkpoint_id" in given and not isinstance(given["checkpoint_id"], str):
        raise InvalidInput(f"checkpoint_id: expected a string, got {_type(given['checkpoint_id'])}")
    if "command" in given:
        check_command(given["command"])
    for key in ("interrupt_before", "interrupt_after"):
        if key in given and given[key] != "*":
            _strings(key, given[key])
    if "stream_mode" in given and not isinstance(given["stream_mode"], str):
        _strings("stream_mode", given["stream_mode"])
    for key in ("stream_subgraphs", "stream_resumable", "checkpoint_during"):
        if key in given:
            _bool(key, given[key])
    if "feedback_keys" in given:
        _strings("feedback_keys", given["feedback_keys"])
    if "webhook" in given and not isinstance(given["webhook"], str):
        raise InvalidInput(f"webhook: expected a URL string, got {_type(given['webhook'])}")
    if "after_seconds" in given:
        check_after_seconds(given["after_seconds"])


def check_configurable_or_context(options: Mapping[str, Any]) -> None:
    """A run request gives `config.configurable` or `context`, not both: the reference's 400 (as for
    assistants). Checked on the request as the client sent it, before the server adds
    `http.configurable_headers` to `configurable`."""
    config = options.get("config")
    if isinstance(config, Mapping) and config.get("configurable") and options.get("context"):
        raise BadRequest(BOTH_CONFIGURABLE_AND_CONTEXT)


def run_delay(run: Run) -> float:
    """Seconds a stored run waits before it is due; an unusable value counts as none (the run is
    then started, and its options check ends it `error`)."""
    value = run.kwargs.get("after_seconds") if isinstance(run.kwargs, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return 0.0
    return float(min(value, MAX_AFTER_SECONDS))
