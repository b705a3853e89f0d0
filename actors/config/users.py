"""Who asked: the authenticated user (`AuthUser`), the request being served's (`REQUEST_USER`), and
how a run carries it in its config, as the reference stamps it (`langgraph_auth_user`, ...).
Nothing here knows how users are authenticated (auth.py) or about HTTP (server/auth.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any


REQUEST_USER: ContextVar[AuthUser | None] = ContextVar("switchboard_request_user", default=None)
"""Who made the request being served (set by the auth middleware; None without auth). It reaches
the operations through the door, which runs them in a copy of the request's context."""


class AuthUser(dict[str, Any]):
    """The authenticated user, whatever the handler returned (a string, a dict, an object): a dict
    of its fields, with `identity`, `display_name`, `permissions`, `is_authenticated` also as
    attributes, like the reference's user. A graph reads it either way, and it encodes (JSON,
    msgpack in a checkpoint) as its fields."""

    def __init__(self, identity: str, *, display_name: str | None = None, permissions: Sequence[str] = (),
                 fields: Mapping[str, Any] | None = None) -> None:
        self.identity = identity
        self.display_name = display_name or identity
        self.permissions = list(permissions)
        self.is_authenticated = True
        super().__init__({**(fields or {}), "identity": identity, "display_name": self.display_name,
                          "permissions": self.permissions, "is_authenticated": True})

    def __reduce__(self) -> Any:  # copy / deepcopy / pickle: rebuilt from its fields
        return (as_user, (dict(self),))

    def __repr__(self) -> str:
        return f"AuthUser({self.identity!r})"


def auth_configurable(user: AuthUser | None) -> dict[str, Any]:
    """What the reference stamps into a run's `configurable` about who asked for it: the user (its
    fields), its identity and permissions; `None`, `""`, `[]` for a request without auth."""
    if user is None:
        return {"langgraph_auth_user": None, "langgraph_auth_user_id": "", "langgraph_auth_permissions": []}
    return {"langgraph_auth_user": dict(user), "langgraph_auth_user_id": user.identity,
            "langgraph_auth_permissions": list(user.permissions)}


def configurable_user(configurable: Mapping[str, Any]) -> AuthUser | None:
    """The user `auth_configurable` stamped (stored with the run as its fields), as an `AuthUser`."""
    value = configurable.get("langgraph_auth_user")
    if isinstance(value, AuthUser) or value is None:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("identity"), str):
        return as_user(value)
    return None


def as_user(result: Any) -> AuthUser:
    if isinstance(result, str):
        return AuthUser(result)
    if isinstance(result, Mapping):
        if not isinstance(result.get("identity"), str):
            raise TypeError("the authenticate handler returned a mapping without a string 'identity'")
        return AuthUser(result["identity"], display_name=result.get("display_name"),
                        permissions=result.get("permissions", ()), fields=result)
    identity = getattr(result, "identity", None)
    if not isinstance(identity, str):
        raise TypeError(f"the authenticate handler returned {type(result).__name__}, which has no 'identity'")
    return AuthUser(identity, display_name=getattr(result, "display_name", None),
                    permissions=getattr(result, "permissions", ()) or ())


