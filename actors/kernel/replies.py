"""Reply futures: made already resolved, chained, or combined. Operations answer with
`concurrent.futures.Future`s that both sync callers and asyncio callers (`runtime.wait_future`) can
wait on; these helpers build them without ever blocking."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any


def done(value: Any) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_result(value)
    return future


def failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    future.set_exception(exc)
    return future


def chain(first: concurrent.futures.Future[Any], out: concurrent.futures.Future[Any], then: Any) -> None:
    """When `first` succeeded, resolve `out` like the future `then()` returns; else fail it."""
    if first.exception() is not None:
        out.set_exception(first.exception())  # type: ignore[arg-type]
        return
    second = then()
    second.add_done_callback(
        lambda f: out.set_exception(f.exception()) if f.exception() is not None else out.set_result(f.result())  # type: ignore[arg-type]
    )


def all_done(
    futures: list[concurrent.futures.Future[Any]], result: Any, *, ignore: type[BaseException] | None = None
) -> concurrent.futures.Future[Any]:
    """A future resolved with `result()` once every future is done; fails with the first error
    (errors of type `ignore` excepted)."""
    combined: concurrent.futures.Future[Any] = concurrent.futures.Future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_: concurrent.futures.Future[Any]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0] or combined.done():
                return
        errors = [f.exception() for f in futures if f.exception() is not None]
        errors = [e for e in errors if ignore is None or not isinstance(e, ignore)]
        if errors:
            combined.set_exception(errors[0])
        else:
            try:
                combined.set_result(result())
            except Exception as exc:  # noqa: BLE001 - surfaced to the caller through the future
                combined.set_exception(exc)

    if not futures:
        combined.set_result(result())
    for future in futures:
        future.add_done_callback(one_done)
    return combined
