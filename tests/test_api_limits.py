"""Request size limits and connection timeouts, against a real uvicorn: a body over the limit is a
413 and headers over it a 431, each naming the limit (with auth on too, which reads the body
first); a connection that does not finish its headers in time gets a 408 and is closed, and an idle
keep-alive connection is closed. Small limits here keep the test fast; the defaults are in
`server/limits.py` and docs/api.md."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from langgraph_sdk import Auth

from server.app import create_app
from server.cli import build_parser, parse_size
from server.limits import Limits
from server.serving import uvicorn_options
from tests.conftest import LiveServer
from tests.server_process import ServerProcess

LIMITS = Limits(max_body_bytes=64 * 1024, max_header_bytes=8 * 1024, header_timeout=0.5, keep_alive_timeout=0.5)


def open_auth() -> Auth:
    auth = Auth()

    @auth.authenticate
    async def anyone(headers: dict) -> str:
        return "someone"

    return auth


@pytest.fixture(scope="module", params=["plain", "auth"])
def server(request, system) -> Iterator[LiveServer]:
    app = create_app(system, own_system=False, limits=LIMITS, auth=open_auth() if request.param == "auth" else None)
    with LiveServer(app, **uvicorn_options(LIMITS)) as live:
        yield live


def test_a_body_over_the_limit_is_a_413_naming_the_limit(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        big = {"metadata": {"blob": "x" * (LIMITS.max_body_bytes + 1)}}
        response = http.post("/threads", json=big)
        assert response.status_code == 413
        assert f"the limit is {LIMITS.max_body_bytes} bytes" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
            yield b'{"metadata": {"blob": "'
            for _ in range(LIMITS.max_body_bytes // 1024 + 1):
                yield b"x" * 1024
            yield b'"}}'

        streamed = http.post("/threads", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "--max-body-size" in streamed.json()["detail"]
        fits = http.post("/threads", json={"metadata": {"blob": "x" * (LIMITS.max_body_bytes // 2)}})
        assert fits.status_code == 200
        assert http.post("/threads/search", json={"limit": 1}).status_code == 200  # the server serves on


def _raw(server: LiveServer, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data` on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_headers_over_the_limit_are_a_431(server):
    huge = b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (LIMITS.max_header_bytes * 4) + b"\r\n\r\n"
    answer = _raw(server, huge)
    assert answer.startswith(b"HTTP/1.1 431") and b"--max-header-size" in answer
    with httpx.Client(base_url=server.url) as http:  # over the limit but in one piece: the ASGI check answers
        response = http.get("/ok", headers={"X-Big": "y" * (LIMITS.max_header_bytes + 100)})
        assert response.status_code == 431 and str(LIMITS.max_header_bytes) in response.text
        assert http.get("/ok", headers={"X-Fine": "y" * 1000}).status_code == 200


def test_a_connection_that_does_not_finish_its_headers_in_time_is_closed_with_a_408(server):
    answer = _raw(server, b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ", timeout=LIMITS.header_timeout * 20)
    assert answer.startswith(b"HTTP/1.1 408") and b"--header-timeout" in answer
    assert _raw(server, b"", timeout=LIMITS.header_timeout * 20).startswith(b"HTTP/1.1 408")  # sends nothing at all


def test_an_idle_keep_alive_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=LIMITS.keep_alive_timeout * 20) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # returns b"" once the server closes the idle connection
            received += chunk
        assert received.startswith(b"HTTP/1.1 200") and received.count(b"HTTP/1.1") == 1


def test_the_serve_flags_set_the_limits(tmp_path, monkeypatch):
    monkeypatch.delenv("HTTP_MAX_REQUEST_BODY_BYTES", raising=False)
    assert parse_size("10M") == 10 * 1024 * 1024 and parse_size("512K") == 512 * 1024 and parse_size("2048") == 2048
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--max-body-size", "lots"])
    assert build_parser().parse_args(["serve"]).max_body_size == Limits().max_body_bytes == 10 * 1024 * 1024
    monkeypatch.setenv("HTTP_MAX_REQUEST_BODY_BYTES", "2048")  # the reference server's variable
    assert build_parser().parse_args(["serve"]).max_body_size == 2048
    monkeypatch.delenv("HTTP_MAX_REQUEST_BODY_BYTES")
    server = ServerProcess(tmp_path, ["--storage", "memory"], "--max-body-size", "1K", "--max-header-size", "4K").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            response = http.post("/threads", json={"metadata": {"blob": "x" * 2000}})
            assert response.status_code == 413 and "the limit is 1024 bytes" in response.json()["detail"]
            assert http.get("/ok", headers={"X-Big": "y" * 5000}).status_code == 431
            assert http.post("/threads", json={}).status_code == 200
    finally:
        server.stop()
