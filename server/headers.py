"""`http.configurable_headers`: which request headers a run sees in `config["configurable"]`.

As on the reference server: a header is copied (lower-cased name, its value) when it matches one
of `includes` and none of `excludes` (`*` is the only wildcard); with no `includes`, none is.
`authorization`, `x-api-key`, `x-service-key`, `x-tenant-id` and a cluster peer's signature
(actors/cluster/trust.py) never are; `langsmith-trace` always is. The same headers reach a graph
factory called for a state read or update, or for introspection.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from actors.cluster import trust
from actors.config.project import HeaderPatterns

NEVER = frozenset({"authorization", "x-api-key", "x-service-key", "x-tenant-id", trust.USER, trust.SIGNATURE})
ALWAYS = frozenset({"langsmith-trace"})


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in text.lower()) + r"\Z", re.S)


class HeaderFilter:
    def __init__(self, patterns: HeaderPatterns | None) -> None:
        patterns = patterns or HeaderPatterns()
        self.includes = [_pattern(p) for p in (patterns.includes or patterns.include or [])]
        self.excludes = [_pattern(p) for p in (patterns.excludes or patterns.exclude or [])]
        self.allows = functools.lru_cache(maxsize=512)(self._allows)

    def _allows(self, name: str) -> bool:
        if name in ALWAYS:
            return True
        if name in NEVER or any(p.match(name) for p in self.excludes):
            return False
        return any(p.match(name) for p in self.includes)

    def pick(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {name: value for name, value in headers if self.allows(name)}


def configurable_headers(request: Any) -> dict[str, str]:
    """The request's headers a run (or a factory) gets, per the app's `http.configurable_headers`."""
    chosen: HeaderFilter | None = getattr(request.app.state, "configurable_headers", None)
    if chosen is None:
        return {}
    return chosen.pick(request.headers.items())


def with_configurable_headers(options: dict[str, Any], headers: Mapping[str, str]) -> dict[str, Any]:
    """Run options with the headers laid over `config.configurable` (they win, as on the reference)."""
    if not headers:
        return options
    config = dict(options.get("config") or {})
    config["configurable"] = {**(config.get("configurable") or {}), **headers}
    return {**options, "config": config}
