"""Importing an object named in langgraph.json: `./file.py:attr` (relative to the config file) or
`package.module:attr`. Graphs, the auth handler and store embedding functions are named this way."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .graphs import GraphConfigError


def is_file_spec(spec: str) -> bool:
    location = spec.rsplit(":", 1)[0]
    return location.endswith(".py") or "/" in location


def import_object(spec: str, base: Path, what: str) -> Any:
    if ":" not in spec:
        raise GraphConfigError(f"{what}: {spec!r} must look like './file.py:name' or 'package.module:name'")
    location, attr = spec.rsplit(":", 1)
    if is_file_spec(spec):
        file = (base / location).resolve()
        if not file.exists():
            raise GraphConfigError(f"{what}: file not found: {file}")
        name = f"switchboard_{file.stem}_{abs(hash(str(file)))}"
        module = sys.modules.get(name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(name, file)
            assert module_spec and module_spec.loader
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise GraphConfigError(f"{what}: cannot import {location!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise GraphConfigError(f"{what}: {location} has no attribute {attr!r}") from None
