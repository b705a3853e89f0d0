"""Cross-origin requests (CORS), as the reference server allows them: Starlette's CORSMiddleware.

By default every origin may call the API (`Access-Control-Allow-Origin: *`, any method and request
header, no credentials) and read the pagination and `Content-Location` headers, so a browser app on
another origin (agent-chat-ui, a page using `useStream`) works out of the box. `http.cors` in
langgraph.json replaces that policy with its own keys, read as the reference reads them: each key
is a CORSMiddleware argument, and a key left out takes Starlette's default (`allow_methods: ["GET"]`,
no request headers beyond the safelisted ones), not the open default. `$CORS_ALLOW_ORIGINS`
(comma-separated) narrows the default origins, or fills `allow_origins` when `http.cors` has none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from actors.config.graphs import GraphConfigError, read_config

EXPOSED_HEADERS = ["x-pagination-total", "x-pagination-next", "content-location"]

# key -> what its value must be
_KEYS: dict[str, str] = {
    "allow_origins": "a list of strings",
    "allow_methods": "a list of strings",
    "allow_headers": "a list of strings",
    "expose_headers": "a list of strings",
    "allow_credentials": "true or false",
    "allow_origin_regex": "a regular expression",
    "max_age": "a whole number of seconds",
}


def cors_options(config_path: str | Path | None, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The CORSMiddleware arguments for this server: the default policy, or `http.cors`."""
    env_origins = [o.strip() for o in environ.get("CORS_ALLOW_ORIGINS", "").split(",") if o.strip()]
    section = _cors_section(config_path)
    if section is None:
        origins = env_origins or ["*"]
        options: dict[str, Any] = {
            "allow_origins": origins,
            "allow_credentials": "*" not in origins,
            "allow_methods": ["*"],
            "allow_headers": ["*"],
            "expose_headers": EXPOSED_HEADERS,
        }
    else:
        options = dict(section)
        if "allow_origins" not in options and env_origins:
            options["allow_origins"] = env_origins
    # Chromium asks before a public page may call a private address (a switchboard on localhost):
    # such a preflight is allowed (the reference's dev server means to, see docs/api.md).
    options["allow_private_network"] = True
    return options


def _cors_section(config_path: str | Path | None) -> dict[str, Any] | None:
    if config_path is None:
        return None
    config = read_config(config_path)
    http = config.get("http")
    if http is None:
        return None
    if not isinstance(http, Mapping):
        raise GraphConfigError(f'{config_path}: "http" must be an object')
    section = http.get("cors")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise GraphConfigError(f'{config_path}: "http.cors" must be an object')
    for key, value in section.items():
        if key not in _KEYS:
            raise GraphConfigError(
                f'{config_path}: "http.cors.{key}" is not a CORS setting (one of: {", ".join(_KEYS)})'
            )
        if not _fits(value, _KEYS[key]):
            raise GraphConfigError(f'{config_path}: "http.cors.{key}" must be {_KEYS[key]}, not {value!r}')
    return dict(section)


def _fits(value: Any, kind: str) -> bool:
    if kind == "a list of strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "true or false":
        return isinstance(value, bool)
    if kind == "a whole number of seconds":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    try:
        re.compile(value)
    except (re.error, TypeError):
        return False
    return True


class CorsApp(CORSMiddleware):
    """The served app with CORS around it. It reads as the app it wraps (`create_app(...).state`,
    `.routes`, ...), so code that inspects the served app sees the API."""

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__.get("app")
        if wrapped is None:
            raise AttributeError(name)
        return getattr(wrapped, name)
