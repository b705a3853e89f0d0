"""Make two servers' answers comparable: ids become `<id:N>` (N: order of first appearance, or a label a
scenario gave them), timestamps become a token that keeps only their format, ports become `<port>`."""

from __future__ import annotations

import re
from typing import Any

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
HEX32 = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")  # interrupt ids (xxhash digests)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


def _time_token(match: re.Match[str]) -> str:
    # The shape is kept (a client parsing it could tell): fractional seconds or not, which zone form.
    fraction = "frac" if match.group(1) else "nofrac"
    zone = match.group(2) or "nozone"
    if zone not in ("Z", "nozone"):
        zone = "+00:00" if zone in ("+00:00", "+0000") else "offset"
    return f"<time:{fraction}:{zone}>"


class Normalizer:
    """One per scenario and server: the same ids seen in the same order get the same names on both."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def label(self, value: str, role: str) -> str:
        """Name an id by its role (`thread`, `run`, ...), numbered when a role repeats."""
        key = value.lower()
        if key not in self.names:
            self.counts[role] = self.counts.get(role, 0) + 1
            n = self.counts[role]
            self.names[key] = f"<{role}>" if n == 1 else f"<{role}{n}>"
        return self.names[key]

    def _id(self, match: re.Match[str], kind: str) -> str:
        key = match.group(0).lower()
        if key not in self.names:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.names[key] = f"<{kind}:{self.counts[kind]}>"
        return self.names[key]

    def text(self, value: str, role: str = "id") -> str:
        value = UUID.sub(lambda m: self._id(m, role), value)
        value = HEX32.sub(lambda m: self._id(m, "hex"), value)
        value = TIMESTAMP.sub(_time_token, value)
        return PORT.sub(r"\1:<port>", value)

    def __call__(self, value: Any, role: str = "id") -> Any:
        """An id first seen as the value of a key is numbered within that key's role (`<run_id:2>`), so an
        id only one server sends (a request id) does not shift the numbering of the others."""
        if isinstance(value, str):
            return self.text(value, role)
        if isinstance(value, dict):
            # Sorted, so ids inside one object are numbered alike whatever order a server writes keys in.
            return {self.text(str(k)): self(value[k], _role(str(k), role)) for k in sorted(value, key=str)}
        if isinstance(value, (list, tuple)):
            return [self(v, role) for v in value]
        return value


def _role(key: str, outer: str) -> str:
    if key in ("checkpoint_id", "parent_checkpoint_id") or outer == "checkpoint_map":
        return "checkpoint"
    if UUID.search(key) or key == "":
        return outer
    return key
