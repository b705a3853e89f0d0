"""Decoding request bodies and path parameters, encoding JSON responses: the only place that knows
how bytes on the wire become values and back."""

from __future__ import annotations

import re
import uuid
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from actors.kernel import serde
from actors.errors import InvalidInput
from actors.models import on_the_wire

T = TypeVar("T")

_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


class MalformedJSON(Exception):
    """The body is not JSON at all (HTTP 400); the message says where it breaks."""


async def decode_body(request: Request, schema: type[T], *, optional: bool = False) -> T:
    """Validate the JSON body against a msgspec type. Errors name the field (`$.field`)."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            raw = b"{}"
        else:
            raise InvalidInput("request body is empty; expected a JSON object")
    decoder = _decoders.get(schema)
    if decoder is None:
        decoder = _decoders[schema] = msgspec.json.Decoder(schema)
    try:
        decoded = decoder.decode(raw)
        if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH or _LONG_NUMBER.search(raw):
            check_json_value(msgspec.json.decode(raw))  # a cheap screen passed: walk for the exact place
        return decoded
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MalformedJSON(f"request body is not valid JSON: {_describe(raw, exc)}") from None
    except RecursionError:
        raise nesting_error() from None


INT64 = (-(2**63), 2**63 - 1)
"""Integers in a body must fit in 64 bits: storage (SQLite, PostgreSQL, msgpack checkpoints) cannot hold more."""
MAX_DEPTH = 200
"""Objects and arrays in a body nest at most this deep: checkpoints are msgpack, which stops at 255
levels, and a run's input sits a few levels down in them."""
_LONG_NUMBER = re.compile(rb"\d{19,}")


def check_json_value(value: Any, where: str = "$") -> None:
    """422 naming the first integer outside the 64-bit range (`$.metadata.n`), or the first place
    nested deeper than `MAX_DEPTH`."""
    stack = [(where, value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, (dict, list)) and depth >= MAX_DEPTH:
            shown = path if len(path) <= 60 else path[:60] + "..."
            raise InvalidInput(f"request body: nested deeper than {MAX_DEPTH} levels (at {shown})")
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v, depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v, depth + 1) for i, v in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            raise InvalidInput(f"{path}: integer {item} is outside the 64-bit range ({INT64[0]} to {INT64[1]})")


def nesting_error() -> InvalidInput:
    """JSON nested deeper than the decoder can follow (Python's recursion limit, ~950 levels)."""
    return InvalidInput(f"request body: nested too deeply (objects and arrays nest at most {MAX_DEPTH} levels)")


def _describe(raw: bytes, exc: msgspec.DecodeError) -> str:
    """Say what is wrong and where: line, column, byte offset and the text around that spot."""
    message = str(exc).removeprefix("JSON is malformed: ")
    if "(byte " not in message:
        return message
    what, _, tail = message.rpartition(" (byte ")
    try:
        pos = int(tail.rstrip(")"))
    except ValueError:
        return message
    before = raw[:pos].decode("utf-8", errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    near = raw[max(0, pos - 25) : pos + 15].decode("utf-8", errors="replace").replace("\n", " ")
    return f"{what} at line {line}, column {column} (byte {pos}), near: {near.strip()}"


def door(request: Request) -> Any:
    """The operations' door (`actors/door.py`): `await door(request).call(ops.x, ...)` runs the
    operation's storage calls off this event loop and awaits its reply."""
    return request.app.state.system.door


def path_id(request: Request, name: str) -> str:
    """A UUID path parameter, normalised; anything else is a 422 naming the parameter."""
    return uuid_field(name, request.path_params[name])


def uuid_field(name: str, value: str) -> str:
    """A UUID given in field `name`, normalised; anything else is a 422 naming the field."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not a valid UUID") from None


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no", ""):
        return False
    raise InvalidInput(f"{name}: {value!r} is not a boolean (use true/false or 1/0)")


def query_int(request: Request, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name}: {value!r} is not an integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"{name}: must be {bound}, got {number}")
    return number


def query_struct(request: Request, schema: type[T]) -> T:
    """Query parameters validated like a body (strings converted to the field types)."""
    try:
        return msgspec.convert(dict(request.query_params), schema, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid query parameters: {exc}") from None


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Every response body: a run's kwargs in the reference's shape, records' times as the
        reference writes them (`+00:00`)."""
        return serde.dumps_response(on_the_wire(content))


def page(found: list[Any], offset: int, limit: int, select: list[str] | None = None, *, of: type[Any] | None = None) -> JSONResponse:
    """A page of search results (records of the struct type `of`); `found` holds up to `limit + 1`
    items, the extra one only telling that there are more: then `X-Pagination-Next` gives the next
    offset, as the reference does. `X-Pagination-Total` is, as there, how many records are known to
    match: up to this page's end when it is the last one, else one more than that (the extra item).
    With `select`, each record keeps only those fields (422 for a field `of` does not have, found
    or not, as the reference; without `of`, the found records' type, checked only if any were found)."""
    if len(found) > limit:
        headers = {"X-Pagination-Total": str(offset + limit + 1), "X-Pagination-Next": str(offset + limit)}
    else:
        headers = {"X-Pagination-Total": str(offset + len(found))}
    items: list[Any] = found[:limit]
    if select:
        kind = of or (type(items[0]) if items else None)
        known = kind.__struct_fields__ if kind is not None else tuple(select)
        unknown = sorted(set(select) - set(known))
        if unknown:
            raise InvalidInput(f"select: unknown field(s) {unknown}; known: {list(known)}")
        # a field a record leaves out (UNSET: a thread's `interrupts` before its first run) stays out
        items = [{f: v for f in select if (v := getattr(item, f)) is not msgspec.UNSET} for item in items]
    return JSONResponse(items, headers=headers)
