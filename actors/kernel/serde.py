"""Turning graph state (LangChain messages, pydantic models, dataclasses, Interrupts) into JSON."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

import msgspec
from langgraph.types import Interrupt


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, Interrupt):  # the reference's wire shape: {"value", "id"}
        return {"value": obj.value, "id": obj.id}
    if hasattr(obj, "model_dump"):  # pydantic v2 models, LangChain messages
        return obj.model_dump()
    if hasattr(obj, "to_json") and hasattr(obj, "lc_serializable"):
        return obj.to_json()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if hasattr(obj, "_asdict"):  # NamedTuple
        return obj._asdict()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (uuid.UUID, datetime, date, enum.Enum)):
        return str(obj)
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    return repr(obj)


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)


def dumps(obj: Any) -> bytes:
    """JSON bytes for anything a graph may put in its state."""
    return _encoder.encode(obj)


def dumps_response(obj: Any) -> bytes:
    """A response body: `dumps`, with the records' times written as the reference writes them."""
    return _encoder.encode(reference_times(obj))


def iso_time(when: datetime) -> str:
    """A time as the reference server writes it (Python's `isoformat`: `+00:00`, microseconds
    unless zero), where msgspec would write `Z`. A naive time is UTC (the SQLite store's are).
    msgspec writes it otherwise the same, ten times faster than `isoformat`: only the zone changes."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    text = _encoder.encode(when)  # b'"2026-12-02T01:35:58.841757Z"'
    return text[1:-2].decode() + "+00:00" if text.endswith(b'Z"') else text[1:-1].decode()


_TIME_DEPTH = 2
_TIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _time_fields(struct: type) -> tuple[str, ...]:
    """A struct type's fields declared as datetimes (`created_at`, `end_time: datetime | None`)."""
    found = _TIME_FIELDS.get(struct)
    if found is None:
        found = _TIME_FIELDS[struct] = tuple(
            f.name for f in msgspec.structs.fields(struct) if "datetime" in repr(f.type)
        )
    return found


def reference_times(obj: Any, depth: int = 0) -> Any:
    """`obj` with the datetimes of its records written by `iso_time`: the datetime fields of structs
    (a thread's `created_at`, a cron's `next_run_date`) and datetimes in lists and dicts, down to
    `_TIME_DEPTH` containers (a record in a list, a `select`ed dict of its fields). Deeper values are
    a record's own data (`metadata`, `values`: JSON already) and are not walked. Containers are
    copied only when something in them changed."""
    if isinstance(obj, datetime):
        return iso_time(obj)
    if depth > _TIME_DEPTH:
        return obj
    if isinstance(obj, msgspec.Struct):
        changes = {}
        for name in _time_fields(type(obj)):
            value = getattr(obj, name)
            if isinstance(value, datetime):
                changes[name] = iso_time(value)
        return msgspec.structs.replace(obj, **changes) if changes else obj
    if type(obj) is list or type(obj) is tuple:
        items = [reference_times(item, depth + 1) for item in obj]
        return items if any(a is not b for a, b in zip(items, obj)) else obj
    if type(obj) is dict:
        found = {key: reference_times(value, depth + 1) for key, value in obj.items()}
        return found if any(found[key] is not value for key, value in obj.items()) else obj
    return obj


def to_jsonable(obj: Any) -> Any:
    """Plain dicts/lists/strings for anything a graph may put in its state."""
    return msgspec.to_builtins(obj, enc_hook=_enc_hook, str_keys=True)


def loads(data: bytes | str) -> Any:
    return msgspec.json.decode(data)
