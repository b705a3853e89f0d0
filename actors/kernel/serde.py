"""Turning graph state (LangChain messages, pydantic models, dataclasses, Interrupts) into JSON."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import date, datetime
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


def to_jsonable(obj: Any) -> Any:
    """Plain dicts/lists/strings for anything a graph may put in its state."""
    return msgspec.to_builtins(obj, enc_hook=_enc_hook, str_keys=True)


def loads(data: bytes | str) -> Any:
    return msgspec.json.decode(data)
