"""The route table's auth column: every route declares the resource and action it touches and how
auth applies to it (`Access`), next to its path and handler. `server/auth.py` reads the declaration
of the route a request matches; a route that declares nothing is refused when the app starts
(deny by default), so a new route cannot slip past authorization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from starlette import routing

How = Literal[
    "public",  # no authentication at all (health, server info, the API's own description)
    "authenticated",  # a user is needed, no resource is touched (e.g. the 501 stubs)
    "create",  # creates a record: the handler's filter is stamped into the body's `metadata`
    "create_on_thread",  # creates on the thread in the path, which must be the user's too
    "object",  # the record named in the path must pass the filter (else 404)
    "search",  # the filter is combined with the body's `metadata` filter
    "count",  # as search; the answer is a number
    "ids",  # the records named by the body's `ids_field` must each pass the filter
    "batch",  # a JSON list, each item authorized as its own `create` / `create_on_thread`
    "store",  # a store namespace the handler may rewrite (e.g. prefix the user's id)
]


@dataclass(frozen=True)
class Access:
    """Who may call a route: `resource.action` is the `@auth.on` handler that decides."""

    resource: str | None
    action: str | None
    how: How
    ids_field: str | None = None  # for `how="ids"`: the body field holding the thread id(s)
    also: tuple[str, str] | None = None  # a second resource.action that must allow it (its filter is not applied)

    @property
    def path_id(self) -> str:
        """The path parameter naming the record (`thread_id`, `assistant_id`, `cron_id`)."""
        return "thread_id" if self.how == "create_on_thread" else f"{(self.resource or '')[:-1]}_id"

    @property
    def creates_runs(self) -> bool:
        """Runs (now or on a schedule) start an assistant: the user must be able to read it."""
        return (self.resource, self.action) in (("threads", "create_run"), ("crons", "create"))


PUBLIC = Access(None, None, "public")
AUTHENTICATED = Access(None, None, "authenticated")


class Route(routing.Route):
    """A Starlette route that carries its `Access` declaration."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, methods: list[str] | None, auth: Access) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.access = auth


class UndeclaredRoute(RuntimeError):
    """A route without an `Access` declaration: the app refuses to start."""


def check_declared(routes: Iterable[routing.BaseRoute]) -> None:
    """Refuse a route table in which any route leaves its access undeclared."""
    missing = [
        f"{sorted(getattr(route, 'methods', None) or [])} {getattr(route, 'path', route)}"
        for route in routes
        if not isinstance(getattr(route, "access", None), Access)
    ]
    if missing:
        raise UndeclaredRoute(f"routes without an auth declaration (server/routing.py Route(..., auth=...)): {missing}")


def find_route(routes: Iterable[routing.BaseRoute], scope: dict[str, Any]) -> tuple[routing.BaseRoute, dict[str, Any]] | None:
    """The route (and its path parameters) that will serve `scope`, as the router will choose it."""
    for route in routes:
        match, child = route.matches(scope)
        if match == routing.Match.FULL:
            return route, child.get("path_params", {})
    return None
