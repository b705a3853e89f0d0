"""The listed differences: the table in docs/differences.md, the one place a known difference between
switchboard and the reference server is written down (with its reason). The test reads it from there.

A row is `| D<n> | `scenario glob`... | `path glob`... | what differs | why |`; in a glob `*` matches any
text (dots and brackets included) and everything else is literal."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .compare import Difference

DIFFERENCES_MD = Path(__file__).resolve().parents[2] / "docs" / "differences.md"
CELL = re.compile(r"(?<!\\)\|")  # a cell ends at a `|` that is not escaped (`\|` is a literal one)
CODE = re.compile(r"`([^`]+)`")


def glob(pattern: str) -> _Glob:
    compiled = re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)) + r"\Z")
    return _Glob(compiled, pattern)


class _Glob:
    """A compiled glob that remembers how it was written (for messages)."""

    def __init__(self, compiled: re.Pattern[str], text: str) -> None:
        self.compiled, self.pattern = compiled, text

    def match(self, value: str) -> bool:
        return self.compiled.match(value) is not None


@dataclass
class Listed:
    id: str
    scenarios: list[_Glob]
    paths: list[_Glob]
    what: str
    why: str
    used: set[int] = field(default_factory=set)  # which of `paths` matched a difference

    def covers(self, diff: Difference) -> bool:
        if not any(s.match(diff.scenario) for s in self.scenarios):
            return False
        hits = {i for i, p in enumerate(self.paths) if p.match(diff.path)}
        self.used |= hits
        return bool(hits)

    def unused_paths(self) -> list[str]:
        """Path globs that matched nothing: the row says more than is true (or is stale)."""
        return [p.pattern for i, p in enumerate(self.paths) if i not in self.used]


def load(path: Path = DIFFERENCES_MD) -> list[Listed]:
    listed = []
    for line in path.read_text().splitlines():
        cells = [cell.strip().replace("\\|", "|") for cell in CELL.split(line.strip())]
        if len(cells) != 7 or not re.fullmatch(r"D\d+", cells[1]):
            continue
        ident, scenarios, paths, what, why = cells[1:6]
        entry = Listed(ident, [glob(s) for s in CODE.findall(scenarios)], [glob(p) for p in CODE.findall(paths)], what, why)
        if not entry.scenarios or not entry.paths or not why:
            raise ValueError(f"{path}: row {ident} needs scenario and path globs in backticks and a reason")
        listed.append(entry)
    return listed


def unlisted(diffs: list[Difference], listed: list[Listed]) -> list[Difference]:
    out = []
    for diff in diffs:
        matches = [entry for entry in listed if entry.covers(diff)]
        if not matches:
            out.append(diff)
    return out
