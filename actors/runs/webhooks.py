"""Webhooks: when a run with a `webhook` URL ends, POST the run (with its final values) to the URL.

Delivery runs on the graph loop as its own task, so a thread actor only schedules it and never waits
for a slow or dead receiver. Failed deliveries (connection error, timeout, 5xx, 429) are retried with
exponential backoff, `settings.webhook_attempts` times in all; 4xx answers are final.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlparse

import httpx

from ..kernel import serde
from ..errors import InvalidInput
from ..models import now, on_the_wire

log = logging.getLogger("switchboard.webhooks")


def check_webhook_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput(f"webhook: {url!r} is not an absolute http(s) URL")
    return url


def webhook_payload(run: Any, output: Any) -> dict[str, Any]:
    """The run record as the reference sends it: the run's fields plus `values` (or `error`)."""
    payload = serde.to_jsonable(serde.reference_times(on_the_wire(run)))  # the run as the API sends it
    if isinstance(output, dict) and "__error__" in output:
        payload["error"] = output["__error__"]
        payload["values"] = None
    else:
        payload["values"] = output
    payload["webhook_sent_at"] = serde.iso_time(now())
    return payload


async def deliver(url: str, payload: dict[str, Any], *, attempts: int, timeout: float, backoff: float) -> bool:
    """POST `payload` to `url`; True once a 2xx/3xx answer arrived."""
    body = serde.dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "switchboard-webhook"}
    async with httpx.AsyncClient(timeout=timeout) as client:
        for attempt in range(attempts):
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.status_code < 400:
                    return True
                if response.status_code < 500 and response.status_code != 429:
                    log.warning("webhook %s answered %s; not retrying", url, response.status_code)
                    return False
                log.warning("webhook %s answered %s (attempt %d/%d)", url, response.status_code, attempt + 1, attempts)
            except httpx.HTTPError as exc:
                log.warning("webhook %s failed: %s (attempt %d/%d)", url, exc, attempt + 1, attempts)
            if attempt + 1 < attempts:
                await asyncio.sleep(backoff * 2**attempt)
    return False
