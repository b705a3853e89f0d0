"""Requests one cluster process sends another on a user's behalf, without that user's credentials:
a cron the leader fires on a thread a peer owns (crons.py) has its run created there as a local
firing would create it, so with an `auth` section the owner must not ask the auth handler about it.

Such a request carries the user it acts for (`USER`, the cron's `user_id`, percent-encoded) and an
HMAC-SHA256 signature (`SIGNATURE`: `<unix time>.<hex>`) over that user, the time, the method, the
path and the body, made with the cluster secret: 32 random bytes the first cluster-mode process
stores in `cluster_secret` (schema.py) and every process reads at start. Only processes sharing
the database know it. The owner verifies the signature (constant-time compare, at most `MAX_AGE`
seconds old, a route that accepts it) and then serves the request as a local firing: no auth
handler runs, no request user is stamped (server/auth.py). A request naming either header with a
missing, wrong or stale signature, or on another route, is refused (401 / 403): a client can never
act for a user this way. Without an `auth` section the headers are ignored (every request is
served without a user anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote

from ..errors import Forbidden, Unauthorized

USER = "x-switchboard-peer-user"
SIGNATURE = "x-switchboard-peer-signature"
HEADERS = frozenset({USER.encode(), SIGNATURE.encode()})

MAX_AGE = 300.0
"""Seconds a signature is good for, either way (the two processes' clocks are compared here, so
this is generous): a request captured on the internal network cannot be replayed later."""

ACCEPTED = frozenset({("POST", "/threads/{thread_id}/runs")})
"""The routes a signed request may use (method, route path): a cron's run on a peer's thread."""


def load_secret(conn: Any) -> bytes:
    """The cluster secret, made by the first process that asks (`conn`: autocommit psycopg)."""
    conn.execute(
        "INSERT INTO cluster_secret (id, secret) VALUES (1, %s) ON CONFLICT (id) DO NOTHING", (secrets.token_bytes(32),)
    )
    row = conn.execute("SELECT secret FROM cluster_secret WHERE id = 1").fetchone()
    return bytes(row[0])


class PeerTrust:
    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self.clock = clock

    def sign(self, method: str, path: str, user: str, body: bytes) -> dict[str, str]:
        """The headers that make this request one a peer sends on `user`'s behalf."""
        stamp = str(int(self.clock()))
        return {USER: quote(user, safe=""), SIGNATURE: f"{stamp}.{self._mac(stamp, method, path, user, body)}"}

    def verify(self, method: str, path: str, route: str, headers: Mapping[bytes, bytes], body: bytes) -> str:
        """The user a peer's request acts for; `Unauthorized` unless it is signed with the cluster
        secret, recently; `Forbidden` on a route that accepts no such request."""
        signature = headers.get(SIGNATURE.encode(), b"").decode("latin-1")
        user = unquote(headers.get(USER.encode(), b"").decode("latin-1"))
        stamp, _, mac = signature.partition(".")
        if not stamp.isdigit() or abs(self.clock() - int(stamp)) > MAX_AGE:
            raise Unauthorized("a cluster peer's request without a valid signature")
        if not hmac.compare_digest(mac.encode(), self._mac(stamp, method, path, user, body).encode()):
            raise Unauthorized("a cluster peer's request without a valid signature")
        if (method, route) not in ACCEPTED:
            raise Forbidden(f"{method} {path}: not a request a cluster peer makes for a user")
        return user

    def _mac(self, stamp: str, method: str, path: str, user: str, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()
        message = "\n".join((stamp, method, path, user, digest)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def claims(headers: Mapping[bytes, bytes]) -> bool:
    """Whether a request says it comes from a peer acting for a user (then it must prove it)."""
    return any(name in headers for name in HEADERS)
