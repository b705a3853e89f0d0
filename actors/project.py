"""A `langgraph.json` read and validated once: its keys, their types, and clear start-up errors.

The keys and their meaning are the reference server's (`langgraph dev`); see docs/config.md. A key
we do not know, or a value of the wrong type, stops the start with a message naming the key (the
reference only warns about unknown top-level keys: a typo there silently does nothing)."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import msgspec


class GraphConfigError(Exception):
    """The config file or one of its graphs cannot be loaded."""


class GraphEntry(msgspec.Struct, forbid_unknown_fields=True):
    """`"graphs": {"id": {"path": "./file.py:graph", "description": "..."}}`."""

    path: str
    description: str | None = None


class HeaderPatterns(msgspec.Struct, forbid_unknown_fields=True):
    """`includes`/`excludes`: header names, `*` as a wildcard (the reference also takes the singular)."""

    includes: list[str] | None = None
    excludes: list[str] | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None


class HttpConfig(msgspec.Struct, forbid_unknown_fields=True):
    app: str | None = None
    disable_assistants: bool = False
    disable_threads: bool = False
    disable_runs: bool = False
    disable_store: bool = False
    disable_meta: bool = False
    disable_ui: bool = False
    disable_mcp: bool = False
    disable_a2a: bool = False
    disable_webhooks: bool = False
    mount_prefix: str | None = None
    configurable_headers: HeaderPatterns | None = None
    logging_headers: HeaderPatterns | None = None  # accepted; we log no headers at all
    enable_custom_route_auth: bool = False
    middleware_order: str | None = None
    cors: dict[str, Any] | None = None


# Top-level keys of the reference's langgraph.json. Those about building images (python_version,
# dockerfile_lines, ...) are accepted and mean nothing here.
KNOWN_KEYS = {
    "python_version", "node_version", "api_version", "base_image", "image_distro", "pip_config_file",
    "pip_installer", "source", "dependencies", "dockerfile_lines", "graphs", "env", "store", "auth",
    "encryption", "priority", "http", "webhooks", "checkpointer", "ui", "ui_config", "keep_pkg_tools",
    "_INTERNAL_docker_tag",
}
MIDDLEWARE_ORDERS = ("auth_first", "middleware_first")


def read_config(path: str | Path) -> dict[str, Any]:
    """The file as a dict, after every check below; raises `GraphConfigError` naming the key."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GraphConfigError(f"config file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise GraphConfigError(f"{path}: invalid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise GraphConfigError(f"{path}: must be a JSON object")
    validate(config, path)
    return config


def validate(config: dict[str, Any], path: Path) -> None:
    for key in sorted(set(config) - KNOWN_KEYS):
        close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise GraphConfigError(f"{path}: unknown key {key!r}{hint}")
    if not isinstance(config.get("graphs"), dict) or not config["graphs"]:
        raise GraphConfigError(f'{path}: needs a non-empty "graphs" object')
    for graph_id, spec in config["graphs"].items():
        if not isinstance(spec, str):
            _convert(spec, GraphEntry, path, f"graphs.{graph_id}")
    env = config.get("env")
    if env is not None and not isinstance(env, (str, dict)):
        raise GraphConfigError(f'{path}: "env" must be a path to a .env file or an object, got {type(env).__name__}')
    if isinstance(env, dict):
        for name, value in env.items():
            if not isinstance(value, (str, int, float, bool)):
                raise GraphConfigError(f"{path}: env.{name} must be a string, got {type(value).__name__}")
    if config.get("http") is not None:
        http = _convert(config["http"], HttpConfig, path, "http")
        if http.mount_prefix is not None and (not http.mount_prefix.startswith("/") or http.mount_prefix.endswith("/")):
            raise GraphConfigError(
                f"{path}: http.mount_prefix must start with '/' and not end with '/' (like '/my-api'), "
                f"got {http.mount_prefix!r}"
            )
        if http.app is not None and ":" not in http.app:
            raise GraphConfigError(f"{path}: http.app must look like './file.py:app' or 'package.module:app'")
        if http.middleware_order == "auth_first":
            raise GraphConfigError(f'{path}: http.middleware_order "auth_first" is not supported (custom middleware runs first)')
        if http.middleware_order is not None and http.middleware_order not in MIDDLEWARE_ORDERS:
            raise GraphConfigError(f"{path}: http.middleware_order must be one of {list(MIDDLEWARE_ORDERS)}")
    ui = config.get("ui")
    if ui is not None and not (isinstance(ui, dict) and all(isinstance(v, str) for v in ui.values())):
        raise GraphConfigError(f'{path}: "ui" must map graph ids to component files')


def _convert(value: Any, kind: type, path: Path, key: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        where = str(exc).rsplit(" - at `$", 1)
        detail, suffix = (where[0], where[1].rstrip("`")) if len(where) == 2 else (str(exc), "")
        raise GraphConfigError(f"{path}: {key}{suffix}: {detail}") from None


def http_config(config_path: str | Path | None) -> HttpConfig:
    """The `http` section (defaults when there is none, or no config file)."""
    if config_path is None:
        return HttpConfig()
    return msgspec.convert(read_config(config_path).get("http") or {}, HttpConfig)


def graph_path(spec: str | dict[str, Any]) -> str:
    return spec if isinstance(spec, str) else spec["path"]


def graph_description(spec: str | dict[str, Any]) -> str | None:
    return None if isinstance(spec, str) else spec.get("description")


def apply_env(config: dict[str, Any], base: Path) -> None:
    """`env`: a `.env` file (relative to the config) or an object, put into `os.environ` before
    any graph is imported. As on the reference, its values win over the process environment."""
    env = config.get("env")
    if isinstance(env, dict):
        os.environ.update({name: str(value) for name, value in env.items()})
    elif isinstance(env, str):
        from dotenv import dotenv_values

        file = (base / env).resolve()
        if not file.is_file():
            raise GraphConfigError(f"env: file not found: {file}")
        os.environ.update({name: value for name, value in dotenv_values(file).items() if value is not None})


def system_assistant_configs() -> dict[str, Any]:
    """`LANGGRAPH_CONFIG` (`{graph_id: config}`, JSON; may come from `env`): the reference's way to
    give each graph's system assistant a config; its `configurable` is also the assistant's context."""
    raw = os.environ.get("LANGGRAPH_CONFIG")
    if not raw:
        return {}
    try:
        configs = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GraphConfigError(f"LANGGRAPH_CONFIG must be a JSON object: {exc}") from None
    if not isinstance(configs, dict) or not all(isinstance(c, dict) for c in configs.values()):
        raise GraphConfigError("LANGGRAPH_CONFIG must be a JSON object of {graph_id: config}")
    return configs
