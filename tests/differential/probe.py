"""What a scenario drives: one server, through the real langgraph-sdk client (`p.sdk`) and raw httpx
(`p.http`, for status codes, headers and SSE framing). Everything a scenario wants compared it records,
under a name unique within the scenario, in order."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from langgraph_sdk import get_client

from .normalize import Normalizer

STREAM_HEADERS = ("content-type", "content-location", "location")
JSON_HEADERS = ("content-location", "x-pagination-next", "x-pagination-total")


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class Probe:
    def __init__(self, server: str, url: str, scenario: str) -> None:
        self.server, self.url, self.scenario = server, url, scenario
        self.sdk = get_client(url=url, timeout=60)
        self.http = httpx.AsyncClient(base_url=url, timeout=60)
        self.norm = Normalizer()
        self.observations: list[tuple[str, Any]] = []

    async def close(self) -> None:
        await self.http.aclose()

    def record(self, name: str, value: Any) -> Any:
        if any(n == name for n, _ in self.observations):
            raise ValueError(f"{self.scenario}: observation {name!r} recorded twice")
        self.observations.append((name, value))
        return value

    def label(self, value: str, role: str) -> str:
        return self.norm.label(value, role)

    def normalized(self) -> list[tuple[str, Any]]:
        return [(name, self.norm(value)) for name, value in self.observations]

    # --- the SDK

    async def sdk_call(self, name: str, awaitable: Any) -> Any:
        """Await an SDK call and record its result, or the HTTP status it failed with."""
        try:
            result = await awaitable
        except httpx.HTTPStatusError as error:
            self.record(name, {"__status__": error.response.status_code})
            if error.response.status_code >= 500:
                self._fresh_client()
            return None
        except httpx.TransportError as error:  # the server dropped the connection (a crash in its handler)
            self.record(name, {"__status__": f"connection dropped ({type(error).__name__})"})
            self._fresh_client()
            return None
        return self.record(name, result)

    def _fresh_client(self) -> None:
        # After a server error the pooled connection may be half dead (the reference drops it while the
        # next request goes out): later calls get a new client, so they do not fail by contagion.
        self.sdk = get_client(url=self.url, timeout=60)

    async def sdk_stream(self, name: str, parts: Any) -> list[dict[str, Any]]:
        """Consume an SDK stream; record each part's event and data (the SDK's own view)."""
        events = []
        try:
            async for part in parts:
                events.append({"event": part.event, "data": part.data})
        except httpx.HTTPStatusError as error:
            self.record(name, {"__status__": error.response.status_code, "events": events})
            return events
        self.record(name, {"events": events})
        return events

    # --- raw HTTP

    async def call(self, name: str | None, method: str, path: str, *, record_headers: bool = False, **kwargs: Any) -> Any:
        """One request; records `{"status", "body"}` (and the pagination/location headers if asked)."""
        response = await self.http.request(method, path, **kwargs)
        body = _body(response)
        if name:
            if response.status_code >= 400 and isinstance(body, dict) and isinstance(body.get("detail"), str):
                body = {**body, "detail": "<message>"}  # error messages may differ; their place may not
            observed: dict[str, Any] = {"status": response.status_code, "body": body}
            if record_headers:
                observed["headers"] = {h: response.headers[h] for h in JSON_HEADERS if h in response.headers}
            self.record(name, observed)
        return body

    async def status(self, name: str, method: str, path: str, **kwargs: Any) -> int:
        """Records only the status code: for bad input, where the messages may differ."""
        response = await self.http.request(method, path, **kwargs)
        self.record(name, {"status": response.status_code, "detail_is_text": isinstance(_body(response), dict)
                           and isinstance(_body(response).get("detail"), (str, list))})
        return response.status_code

    async def sse(self, name: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                  stop_after: int | None = None, on_open: Any = None, until: Any = None, **kwargs: Any) -> list[dict[str, Any]]:
        """A raw SSE request: records the status, headers and every frame exactly as framed (`event`,
        `data` parsed as JSON when it is JSON, `id` when sent). `stop_after` disconnects after n frames;
        `on_open` is awaited once the response headers are in (e.g. to let the run go on); `until(event)`
        true disconnects after that event (for streams that do not end by themselves)."""
        events: list[dict[str, Any]] = []
        async with self.http.stream(method, path, headers=headers, **kwargs) as response:
            observed: dict[str, Any] = {
                "status": response.status_code,
                "headers": {h: response.headers[h].split(";")[0] for h in STREAM_HEADERS if h in response.headers},
            }
            if on_open is not None:
                await on_open()  # the server answered: the stream is attached
            if response.status_code >= 400:
                await response.aread()
                observed["body"] = _body(response)
            else:
                frame: dict[str, Any] = {}
                async for line in response.aiter_lines():
                    if line == "":
                        if frame:
                            events.append(_finish(frame))
                            frame = {}
                            if stop_after is not None and len(events) >= stop_after:
                                break
                            if until is not None and until(events[-1]):
                                break
                        continue
                    if line.startswith(":"):
                        continue  # heartbeat comments: how many depends on timing
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data" and "data" in frame:
                        frame["data"] += "\n" + value
                    else:
                        frame[field] = value
                if frame and (stop_after is None or len(events) < stop_after):
                    events.append(_finish(frame))
        observed["events"] = [_masked(e) for e in events]
        self.record(name, observed)
        return events

    # --- synchronisation (no sleeping for a guessed time)

    async def open_gate(self, gate: str) -> None:
        await self.sdk.store.put_item(["gates"], gate, {"open": True})

    async def wait_run(self, thread_id: str, run_id: str, *statuses: str, timeout: float = 30.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            run = await self.sdk.runs.get(thread_id, run_id)
            if run["status"] in statuses:
                return run["status"]
            if loop.time() > deadline:
                raise AssertionError(f"{self.server}: run stayed {run['status']}, wanted {statuses}")
            await asyncio.sleep(0.02)

    async def wait_thread(self, thread_id: str, *statuses: str, timeout: float = 30.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            thread = await self.sdk.threads.get(thread_id)
            if thread["status"] in statuses:
                return thread["status"]
            if loop.time() > deadline:
                raise AssertionError(f"{self.server}: thread stayed {thread['status']}, wanted {statuses}")
            await asyncio.sleep(0.02)

    async def assistant(self, graph_id: str) -> str:
        """The system assistant of a graph, labelled `assistant:<graph>`."""
        found = await self.sdk.assistants.search(graph_id=graph_id, metadata={"created_by": "system"})
        self.label(found[0]["assistant_id"], f"assistant:{graph_id}")
        return found[0]["assistant_id"]

    async def thread(self, role: str = "thread", **metadata: Any) -> str:
        thread = await self.sdk.threads.create(metadata={"scenario": self.scenario, **metadata})
        self.label(thread["thread_id"], role)
        return thread["thread_id"]


def _finish(frame: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"event": frame.get("event", "message")}
    if "data" in frame:
        try:
            out["data"] = json.loads(frame["data"])
        except ValueError:
            out["data"] = {"<not JSON>": frame["data"]}
    if "id" in frame:
        out["id"] = frame["id"]
    return out


def _masked(event: dict[str, Any]) -> dict[str, Any]:
    # Event ids are the server's own cursor (the reference: `<ms>-<seq>`, switchboard: 0, 1, ...); a
    # client only echoes them back in Last-Event-ID, so only their presence is compared.
    return {**event, "id": "<event id>"} if "id" in event else event
