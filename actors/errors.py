"""Domain errors, defined once. Each class says only what went wrong; which HTTP status stands for
it is `server/errors.py`'s one table (`STATUS`), which turns any `SwitchboardError` into
`{"detail": ...}` with that status. Errors raised outside this hierarchy on purpose are start-up
and tooling errors, never answers to a request: `GraphConfigError` (a bad langgraph.json),
`StorageUnavailable` and `NotEmpty` (storage), `UndeclaredRoute` (a route without an auth
declaration). Anything else reaching a handler is a bug or an outage: 500, logged."""


class SwitchboardError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(SwitchboardError):
    """The thread, run or assistant does not exist."""


class InvalidInput(SwitchboardError):
    """The request names a bad value; the message names the field."""


class BadRequest(SwitchboardError):
    """A request the reference refuses as malformed rather than invalid: e.g. both
    `config.configurable` and `context` on an assistant."""


class ThreadBusy(SwitchboardError):
    """`multitask_strategy="reject"` while the thread has a run in flight."""


class Conflict(SwitchboardError):
    """The resource exists already or is in a state that forbids the request."""


class ShuttingDown(SwitchboardError):
    """The system no longer accepts new work; another instance may, after `retry_after` seconds."""

    retry_after = 5


class DatabaseUnavailable(SwitchboardError):
    """The storage is away for now (a PostgreSQL outage, a full disk); worth retrying after
    `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Fenced(SwitchboardError):
    """Cluster mode: this process no longer owns the thread it was writing for (its lease lapsed and
    another process took the thread over); nothing was written. Retried (after `retry_after`
    seconds), the request reaches the new owner."""

    retry_after = 1


class OwnedElsewhere(SwitchboardError):
    """Cluster mode: a live peer owns the thread, so this process may not serve it (the forwarding
    middleware sends the request to `owner_url` instead; retried, it gets there)."""

    retry_after = 1

    def __init__(self, detail: str, owner_url: str) -> None:
        super().__init__(detail)
        self.owner_url = owner_url


class Unauthorized(SwitchboardError):
    """Auth is on and the request is not authenticated."""

    def __init__(self, detail: str = "Unauthorized", headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.headers = headers


class Forbidden(SwitchboardError):
    """The authenticated user may not do this."""
