"""Server-Sent Events for run streams, framed by sse-starlette.

As on the reference server, a stream simply ends when its run (or thread) does: there is no closing
`end` event (`@langchain/langgraph-sdk` before 1.10 parses every `data:` line as JSON and throws on an
empty one). Lines end with CRLF, as the reference's do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette.sse import EventSourceResponse

from actors.streams import AsyncSubscription


def sse_response(
    subscription: AsyncSubscription,
    *,
    headers: dict[str, str] | None = None,
    with_ids: bool = False,
    on_disconnect: Callable[[], Any] | None = None,
) -> EventSourceResponse:
    async def frames() -> AsyncIterator[dict[str, str]]:
        finished = False
        try:
            async for event in subscription:
                frame = {"event": event.event, "data": event.data.decode()}
                if with_ids:
                    frame["id"] = str(event.id)
                yield frame
            finished = True
        finally:
            subscription.close()
            if not finished and on_disconnect is not None:
                on_disconnect()

    return EventSourceResponse(frames(), headers=headers, ping=15)
