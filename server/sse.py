"""Server-Sent Events for run streams, framed by sse-starlette. Every stream ends with `end`."""

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
            yield {"event": "end", "data": ""}
        finally:
            subscription.close()
            if not finished and on_disconnect is not None:
                on_disconnect()

    return EventSourceResponse(frames(), headers=headers, ping=15, sep="\n")
