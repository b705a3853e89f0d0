"""Custom auth in the reference server's style: a `langgraph_sdk.Auth` object whose
`@auth.authenticate` handler turns a request into a user, and whose `@auth.on...` handlers
authorize each action on a resource, returning nothing (allow), `False` (deny) or a metadata
filter (`{"owner": "alice"}`, `{"owner": {"$eq": "alice"}}`, `{"tags": {"$contains": "x"}}`).

`langgraph.json`:  `{"graphs": {...}, "auth": {"path": "./auth.py:auth"}}`. Off when absent.

This module knows nothing of HTTP: `server/auth.py` calls `Authorizer.authenticate` with the
request's parts and `Authorizer.authorize` for the resource and action a route touches, and
applies the filter with `matches`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from langgraph_sdk.auth.types import AuthContext

from ..errors import Forbidden, InvalidInput, SwitchboardError, Unauthorized
from .filters import is_operators, matches_metadata
from .graphs import GraphConfigError, read_config
from .loading import import_object
from .users import AuthUser, as_user

__all__ = ["AuthUser", "Authorizer", "as_user", "authorizer_from_config", "equalities", "load_auth", "matches"]

log = logging.getLogger("switchboard.auth")

Filters = dict[str, Any]


def matches(filters: Filters | None, metadata: Mapping[str, Any] | None) -> bool:
    """Whether a record's metadata passes a handler's filter (a mapping value is operators)."""
    for key, condition in (filters or {}).items():
        if isinstance(condition, Mapping) and not is_operators(condition):
            raise ValueError(f"unsupported filter on {key!r}: {dict(condition)!r} (use $eq or $contains)")
    try:
        return matches_metadata(metadata, filters)
    except InvalidInput as exc:
        raise ValueError(exc.detail) from None


def equalities(filters: Filters | None) -> dict[str, Any]:
    """The `key == value` part of a filter (what can be stamped on a record or pushed into a search)."""
    out = {}
    for key, condition in (filters or {}).items():
        if isinstance(condition, Mapping):
            if "$eq" in condition:
                out[key] = condition["$eq"]
        else:
            out[key] = condition
    return out


class Authorizer:
    """Runs an `Auth` object's handlers."""

    def __init__(self, auth: Auth) -> None:
        if not isinstance(auth, Auth):
            raise GraphConfigError(f"auth: expected a langgraph_sdk.Auth instance, got {type(auth).__name__}")
        self.auth = auth

    async def authenticate(self, **request_parts: Any) -> AuthUser:
        """Call `@auth.authenticate` with the request parts it asks for by name. No handler: anonymous."""
        handler = self.auth._authenticate_handler
        if handler is None:
            return AuthUser("anonymous")
        wanted = inspect.signature(handler).parameters
        kwargs = {name: request_parts.get(name) for name in wanted if name in request_parts}
        try:
            return as_user(await handler(**kwargs))
        except AuthHTTPException as exc:
            if exc.status_code == 403:
                raise Forbidden(exc.detail) from None
            raise Unauthorized(exc.detail, dict(exc.headers or {})) from None
        except SwitchboardError:
            raise
        except Exception:
            log.exception("the authenticate handler failed; refusing the request")
            raise Unauthorized() from None

    def _handler(self, resource: str, action: str) -> Any:
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action)):
            if key in handlers:
                return handlers[key][-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    async def authorize(self, user: AuthUser, resource: str, action: str, value: dict[str, Any]) -> Filters | None:
        """Run the most specific `@auth.on` handler; it may edit `value`. Returns its filter, if any."""
        handler = self._handler(resource, action)
        if handler is None:
            return None
        ctx = AuthContext(permissions=user.permissions, user=user, resource=resource, action=action)  # type: ignore[arg-type]
        try:
            result = await handler(ctx=ctx, value=value)
        except AuthHTTPException as exc:
            error = Forbidden if exc.status_code == 403 else Unauthorized
            raise error(exc.detail) from None
        except AssertionError as exc:
            raise Forbidden(str(exc) or "Forbidden") from None
        if result is None or result is True:
            return None
        if result is False:
            raise Forbidden(f"Forbidden: {resource} {action}")
        if isinstance(result, Mapping):
            return dict(result)
        raise TypeError(f"auth handler for {resource}.{action} returned {type(result).__name__}")


def load_auth(spec: str, base: Path) -> Auth:
    """Import `./file.py:attr` (relative to `base`) or `package.module:attr`."""
    return import_object(spec, base, "auth.path")


def authorizer_from_config(config_path: str | Path | None) -> Authorizer | None:
    """The `auth` section of a langgraph.json, loaded; None when there is none (auth off)."""
    if config_path is None:
        return None
    config_path = Path(config_path).resolve()
    section = read_config(config_path).get("auth")
    if not section:
        return None
    if not isinstance(section, Mapping) or not isinstance(section.get("path"), str):
        raise GraphConfigError(f'{config_path}: "auth" needs a "path" like "./auth.py:auth"')
    return Authorizer(load_auth(section["path"], config_path.parent))
