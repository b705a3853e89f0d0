"""How `switchboard serve` runs uvicorn: its own timeouts, plus a guard uvicorn lacks.

uvicorn (0.54) times out idle keep-alive connections (`timeout_keep_alive`), but not a connection
that never finishes sending a request's headers: a client that opens a socket and dribbles a header
byte now and then holds it (and its buffers) forever, and the httptools parser buffers headers of
any size. `guarded_protocol` is uvicorn's httptools protocol with a deadline for each request's
head (request line and headers: 408 and close when it passes) and a cap on its size (431 and close,
before the headers are all buffered). The ASGI `RequestLimits` middleware checks the same header
limit and the body limit for any server.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import Limits, too_large


def guarded_protocol(limits: Limits) -> type[HttpToolsProtocol]:
    """An httptools protocol class enforcing `limits.header_timeout` and `limits.max_header_bytes`."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None
            self._head_bytes = 0  # bytes received since the current request began, while its head is incomplete
            self._in_head = True
            self._refusal: tuple[int, str] | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head()  # a new connection must send a request head in time, too

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refusal is not None:
                return
            if self._in_head:
                if self._head_bytes > limits.max_header_bytes:  # checked before this chunk: it may hold the body
                    self._refuse(431, too_large("headers", None, limits.max_header_bytes, "--max-header-size"))
                    return
                self._head_bytes += len(data)
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:  # the next request on a kept-alive connection
                self._start_head()
                self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._stop_head_timer()
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if self._refusal is None:
                super().send_400_response(msg)

        def _start_head(self) -> None:
            self._in_head = True
            self._stop_head_timer()
            self._head_timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                waited = f"{limits.header_timeout:g} s"
                self._refuse(408, f"request headers not received within {waited} (switchboard serve --header-timeout)")

        def _refuse(self, status: int, message: str) -> None:
            self._refusal = (status, message)
            body = message.encode()
            self.transport.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
                + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\nconnection: close\r\n\r\n"
                + body
            )
            self.transport.close()

    return GuardedHttpToolsProtocol


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` that apply `limits`."""
    return {
        "http": guarded_protocol(limits),
        "timeout_keep_alive": limits.keep_alive_timeout,
    }
