"""`langgraph_sdk.get_client()` with no URL, inside a graph node or a custom route, reaches us.

The SDK's in-process client is an `httpx.ASGITransport` (base URL `http://api`, root path
`/noauth`). It first tries `from langgraph_api.server import app` (the reference server); when that
fails it leaves the transport's app empty and records it, for the server to fill in with
`configure_loopback_transports(app)`. We are that server: at start-up we fill in the transports
made so far (clients created while graphs were imported) and make every later one (a client
created inside a node) get the app the moment it is made. Requests through it run on the
caller's event loop (the graph loop, for a node), skip auth as on the reference (`/noauth`), and
a streamed answer arrives whole (httpx's ASGI transport reads the body to the end).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("switchboard")


class _FilledTransports(list):  # type: ignore[type-arg]
    """The SDK's list of waiting transports, each given the app as it is added."""

    def __init__(self, app: Any, waiting: list[Any]) -> None:
        super().__init__()
        self.app = app
        for transport in waiting:
            self.append(transport)

    def append(self, transport: Any) -> None:
        transport.app = self.app  # nothing waits: it is served from now on


def serve_loopback_clients(app: Any) -> None:
    try:
        from langgraph_sdk._async import client as sdk_client
        from langgraph_sdk._shared import utilities
    except ImportError:  # an SDK without in-process clients
        return
    waiting = getattr(sdk_client, "_registered_transports", None)
    if not isinstance(waiting, list):
        log.warning("langgraph_sdk has no _registered_transports: get_client() without a URL will not reach us")
        return
    utilities.configure_loopback_transports(app)  # the SDK's own hook, for the ones made so far
    filled = _FilledTransports(app, waiting)
    sdk_client._registered_transports = filled  # get_client() looks the list up here at each call
    utilities._registered_transports = filled
