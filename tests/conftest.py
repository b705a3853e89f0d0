"""Fixtures that start real parts: an actor system on the test graphs, and a real uvicorn serving it
on a free loopback port, reached with the real `langgraph-sdk` client."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from langgraph_sdk import get_client

from actors import ActorSystem, Settings
from server.app import create_app
from tests.backends import backend_settings
from tests.graphs.steps import GRAPHS

STORAGE = os.environ.get("SWITCHBOARD_TEST_STORAGE", "memory")
"""The backend of the `system` fixture: memory (default), sqlite or postgres (see .ci/run)."""


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.005) -> None:
    """Poll `predicate` until it is true or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class LiveServer:
    """uvicorn serving an app in a background thread, on a socket bound before it starts."""

    def __init__(self, app, **uvicorn_options) -> None:
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
        # and without it every response waits ~40 ms for a delayed ACK.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **uvicorn_options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActorSystem]:
    with backend_settings(STORAGE, tmp_path_factory.mktemp("data")) as storage:
        with ActorSystem(GRAPHS, settings=Settings(idle_timeout=5.0, **storage)) as actor_system:
            yield actor_system


@pytest.fixture(scope="module")
def live_server(system: ActorSystem) -> Iterator[LiveServer]:
    with LiveServer(create_app(system, own_system=False)) as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer):
    return get_client(url=live_server.url)
