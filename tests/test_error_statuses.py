"""Domain errors say what went wrong; `server/errors.py` alone says which HTTP status stands for each."""

from __future__ import annotations

import pytest

import server.app  # noqa: F401  (imports every module that defines a domain error)
from actors.errors import DatabaseUnavailable, NotFound, ShuttingDown, SwitchboardError, ThreadBusy, Unauthorized
from server.errors import STATUS, error_response, status_of


def _every_subclass(cls: type) -> set[type]:
    """The package's subclasses of `cls` (not a test's own)."""
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_every_subclass(sub)}
    return {c for c in found if c.__module__.startswith(("actors.", "server."))}


def test_every_domain_error_has_a_row_in_the_status_table():
    missing = sorted(cls.__qualname__ for cls in _every_subclass(SwitchboardError) if cls not in STATUS)
    assert not missing, f"add these to server/errors.py STATUS: {missing}"


def test_domain_errors_carry_no_http_status():
    for cls in (SwitchboardError, *_every_subclass(SwitchboardError)):
        assert "status_code" not in vars(cls), f"{cls.__qualname__} declares an HTTP status; the table in server/errors.py does"


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (NotFound("Thread t not found."), 404, {}),
        (ThreadBusy("busy"), 409, {}),
        (ShuttingDown("bye"), 503, {"retry-after": "5"}),
        (DatabaseUnavailable("down", retry_after=3), 503, {"retry-after": "3"}),
        (Unauthorized("who?", {"WWW-Authenticate": "Bearer"}), 401, {"www-authenticate": "Bearer"}),
    ],
)
def test_error_response_has_the_tables_status_the_detail_and_the_headers(error, status, headers):
    response = error_response(error)
    assert response.status_code == status == status_of(error)
    assert response.body == b'{"detail":"' + error.detail.encode() + b'"}'
    assert {k: v for k, v in response.headers.items() if k in headers} == headers


def test_a_subclass_without_a_row_answers_as_its_base():
    class Gone(NotFound):
        pass

    assert status_of(Gone("x")) == 404
