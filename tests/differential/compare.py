"""Field-by-field comparison of two normalized observations. A stream's events are aligned by their
event names first (difflib), so one missing or extra event is one difference, not a cascade."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

MISSING = "<absent>"


@dataclass(frozen=True)
class Difference:
    scenario: str
    path: str
    reference: Any
    switchboard: Any

    def render(self, width: int = 160) -> str:
        def short(value: Any) -> str:
            text = value if value is MISSING else json.dumps(value, sort_keys=True, default=str)
            return text if len(text) <= width else text[: width - 3] + "..."

        return f"{self.scenario} | {self.path}\n    reference:   {short(self.reference)}\n    switchboard: {short(self.switchboard)}"


def compare(scenario: str, path: str, ref: Any, ours: Any) -> list[Difference]:
    if isinstance(ref, dict) and isinstance(ours, dict):
        if "events" in ref and "events" in ours and isinstance(ref["events"], list):
            rest = compare_dicts(scenario, path, {k: v for k, v in ref.items() if k != "events"},
                                 {k: v for k, v in ours.items() if k != "events"})
            return rest + compare_events(scenario, f"{path}.events", ref["events"], ours["events"])
        return compare_dicts(scenario, path, ref, ours)
    if isinstance(ref, list) and isinstance(ours, list):
        out: list[Difference] = []
        for i in range(max(len(ref), len(ours))):
            r = ref[i] if i < len(ref) else MISSING
            o = ours[i] if i < len(ours) else MISSING
            out += compare(scenario, f"{path}[{i}]", r, o)
        return out
    if ref == ours and type(ref) is type(ours):
        return []
    return [Difference(scenario, path, ref, ours)]


def compare_dicts(scenario: str, path: str, ref: dict, ours: dict) -> list[Difference]:
    # A failed call on one side only (the SDK raised: `{"__status__": n}`), or two different HTTP
    # statuses: one difference each, not one per field of the other side's body.
    if ("__status__" in ref) != ("__status__" in ours):
        return [Difference(scenario, path, ref, ours)]
    if isinstance(ref.get("status"), int) and isinstance(ours.get("status"), int) and ref["status"] != ours["status"]:
        out = [Difference(scenario, f"{path}.status", ref["status"], ours["status"])]
        if "body" in ref or "body" in ours:
            out.append(Difference(scenario, f"{path}.body", ref.get("body", MISSING), ours.get("body", MISSING)))
        return out
    out: list[Difference] = []
    for key in sorted(set(ref) | set(ours), key=str):
        out += compare(scenario, f"{path}.{key}", ref.get(key, MISSING), ours.get(key, MISSING))
    return out


def _name(event: Any) -> str:
    return event.get("event", "?") if isinstance(event, dict) else "?"


def compare_events(scenario: str, path: str, ref: list, ours: list) -> list[Difference]:
    """Events are addressed as `events[i:name]`, i the reference's index (ours for an extra event)."""
    matcher = difflib.SequenceMatcher(a=[_name(e) for e in ref], b=[_name(e) for e in ours], autojunk=False)
    out: list[Difference] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2)))
        for i, j in pairs:
            out += compare(scenario, f"{path}[{i}:{_name(ref[i])}]", ref[i], ours[j])
        for i in range(i1 + len(pairs), i2):
            out.append(Difference(scenario, f"{path}[{i}:{_name(ref[i])}]", ref[i], MISSING))
        for j in range(j1 + len(pairs), j2):
            out.append(Difference(scenario, f"{path}[+{j}:{_name(ours[j])}]", MISSING, ours[j]))
    return out
