"""Metadata filters, one meaning everywhere (search and count requests, auth handlers' filters).

`{"key": value}` asks for equality. A condition whose keys all start with `$` is operators:
`{"$eq": value}`, and `{"$contains": x}` / `{"$contains": [x, y]}` for a list holding x (and y)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInput

OPERATORS = ("$eq", "$contains")


def is_operators(condition: Any) -> bool:
    return isinstance(condition, Mapping) and bool(condition) and all(str(k).startswith("$") for k in condition)


def matches_metadata(metadata: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None) -> bool:
    metadata = metadata or {}
    for key, condition in (wanted or {}).items():
        have = metadata.get(key)
        if not is_operators(condition):
            if have != condition:
                return False
            continue
        for op, value in condition.items():
            if op == "$eq":
                if have != value:
                    return False
            elif op == "$contains":
                values = have if isinstance(have, (list, tuple)) else []
                if not all(v in values for v in (value if isinstance(value, list) else [value])):
                    return False
            else:
                raise InvalidInput(f"metadata.{key}: unsupported operator {op!r} (use {' or '.join(OPERATORS)})")
    return True


def combine(asked: Mapping[str, Any] | None, imposed: Mapping[str, Any]) -> dict[str, Any] | None:
    """One filter that holds when both do (an auth filter `imposed` on a request's own); None when
    no record can pass both (two different `$eq` values for one key)."""
    out = dict(asked or {})
    for key, condition in imposed.items():
        if key not in out:
            out[key] = condition
            continue
        mine, theirs = _as_operators(out[key]), _as_operators(condition)
        if "$eq" in mine and "$eq" in theirs and mine["$eq"] != theirs["$eq"]:
            return None
        merged = {**mine, **theirs}
        if "$contains" in mine and "$contains" in theirs:
            merged["$contains"] = _listed(mine["$contains"]) + _listed(theirs["$contains"])
        out[key] = merged
    return out


def _as_operators(condition: Any) -> dict[str, Any]:
    return dict(condition) if is_operators(condition) else {"$eq": condition}


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
