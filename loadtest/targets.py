"""One async interface over what the harness drives: the embedded actor system (no HTTP), or any server
speaking the LangGraph Platform API (switchboard, the reference server), through the real langgraph-sdk.

A target serves the bundled benchmark graph (`loadtest/graph.py`) as `bench`, with the graph's journal
going to `journal` (the env var `SWITCHBOARD_LOADTEST_JOURNAL` of the process that runs the graph).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from collections.abc import Callable
from typing import Any, Protocol

from .graph import CONFIG_PATH, GRAPH_ID, JOURNAL_ENV

V2_CHANNELS = ("values", "updates", "messages", "tools", "custom", "lifecycle", "input", "checkpoints", "tasks")


class Rejected(Exception):
    """409: the thread is busy (strategy `reject`)."""


class Gone(Exception):
    """404: the run or thread does not exist (any more)."""


def _http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


class Target(Protocol):
    name: str
    journal: Path

    async def create_thread(self) -> str: ...
    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str: ...
    async def join(self, thread_id: str, run_id: str) -> Any: ...
    async def stream_run(
        self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Callable[[str], None], on_event: Callable[[str], None]
    ) -> None:
        """Create a run with `runs.stream` and read its events to the end: `on_created(run_id)` once
        the run is accepted, `on_event(name)` per event. Raises `Rejected` for a 409."""
        ...

    async def run_status(self, thread_id: str, run_id: str) -> str: ...
    async def state_done(self, thread_id: str) -> list[str]: ...
    async def aclose(self) -> None: ...


def new_journal() -> Path:
    fd, path = tempfile.mkstemp(prefix="switchboard-loadtest-", suffix=".jsonl")
    os.close(fd)
    return Path(path)


class EmbeddedTarget:
    """The in-process actor system (`system.aio`), serving the benchmark graph."""

    name = "embedded"

    def __init__(self, journal: Path | None = None, idle_timeout: float = 30.0, *, on_caller_loop: bool = False) -> None:
        """`on_caller_loop`: the system lives on the running loop (`ActorSystem.on_running_loop`);
        construct it from a coroutine on that loop."""
        from actors import ActorSystem, Settings

        from .graph import graph

        self.journal = journal or new_journal()
        self._previous_journal = os.environ.get(JOURNAL_ENV)
        os.environ[JOURNAL_ENV] = str(self.journal)  # the graph runs in this process
        settings = Settings(idle_timeout=idle_timeout)
        if on_caller_loop:
            self.name = "embedded-loop"
            self.system = ActorSystem.on_running_loop({GRAPH_ID: graph}, settings=settings)
        else:
            self.system = ActorSystem({GRAPH_ID: graph}, settings=settings)
        self.aio = self.system.aio

    async def create_thread(self) -> str:
        return (await self.aio.threads.create())["thread_id"]

    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str:
        from actors import NotFound, ThreadBusy

        try:
            run = await self.aio.runs.create(thread_id, GRAPH_ID, input=input, multitask_strategy=strategy)
        except ThreadBusy as exc:
            raise Rejected(str(exc)) from exc
        except NotFound as exc:
            raise Gone(str(exc)) from exc
        return run["run_id"]

    async def join(self, thread_id: str, run_id: str) -> Any:
        from actors import NotFound

        try:
            return await self.aio.runs.join(thread_id, run_id)
        except NotFound as exc:
            raise Gone(str(exc)) from exc

    async def stream_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        # What `system.aio.runs.stream` does, through the operations, so the run id is known at once.
        from actors import ThreadBusy
        from actors.kernel.runtime import wait_future
        from actors.kernel.streams import AsyncSubscription

        ops = self.system.ops
        run = ops.prepare_run(thread_id, GRAPH_ID, input=input, multitask_strategy=strategy)
        subscription = AsyncSubscription(ops.open_stream(run))
        try:
            await wait_future(ops.submit_run(run))
        except ThreadBusy as exc:
            subscription.close()
            raise Rejected(str(exc)) from exc
        except BaseException:
            subscription.close()
            raise
        on_created(run.run_id)
        async for event in subscription:
            on_event(event.event)

    async def run_status(self, thread_id: str, run_id: str) -> str:
        from actors import NotFound

        try:
            return (await self.aio.runs.get(thread_id, run_id))["status"]
        except NotFound:
            return "deleted"

    async def state_done(self, thread_id: str) -> list[str]:
        state = await self.aio.threads.get_state(thread_id)
        return list((state.get("values") or {}).get("done") or [])

    async def aclose(self) -> None:
        await self.system.aclose()
        if self._previous_journal is None:
            os.environ.pop(JOURNAL_ENV, None)
        else:
            os.environ[JOURNAL_ENV] = self._previous_journal


class HttpTarget:
    """A server at `url`, through langgraph-sdk's async client."""

    def __init__(self, url: str, journal: Path, name: str = "http") -> None:
        import httpx
        from langgraph_sdk import get_client

        self.name = name
        self.url = url
        self.journal = journal
        timeout = httpx.Timeout(connect=10, read=600, write=60, pool=600)
        self.client = get_client(url=url, api_key=None, timeout=timeout)

    async def create_thread(self) -> str:
        return (await self.client.threads.create())["thread_id"]

    async def create_run(self, thread_id: str, strategy: str, input: dict[str, Any]) -> str:
        try:
            run = await self.client.runs.create(thread_id, GRAPH_ID, input=input, multitask_strategy=strategy)  # type: ignore[arg-type]
        except Exception as exc:
            if _http_status(exc) == 409:
                raise Rejected(str(exc)) from exc
            if _http_status(exc) == 404:
                raise Gone(str(exc)) from exc
            raise
        return run["run_id"]

    async def join(self, thread_id: str, run_id: str) -> Any:
        try:
            return await self.client.runs.join(thread_id, run_id)
        except Exception as exc:
            if _http_status(exc) == 404:
                raise Gone(str(exc)) from exc
            raise

    async def stream_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        try:
            async for part in self.client.runs.stream(
                thread_id, GRAPH_ID, input=input, multitask_strategy=strategy,  # type: ignore[arg-type]
                on_run_created=lambda meta: on_created(meta["run_id"]),
            ):
                on_event(part.event)
        except Exception as exc:
            if _http_status(exc) == 409:
                raise Rejected(str(exc)) from exc
            raise

    async def v2_run(self, thread_id: str, strategy: str, input: dict[str, Any], on_created: Any, on_event: Any) -> None:
        """A run through protocol v2: `run.start`, then the thread's event stream from the reply's
        `applied_through_seq` until a root lifecycle terminal after which the run has ended.
        Every seq must follow the previous one (no event lost or repeated), or this raises."""
        http = self.client.http.client
        reply = (await http.post(f"/threads/{thread_id}/commands", json={
            "id": 1, "method": "run.start", "params": {"assistant_id": GRAPH_ID, "input": input, "multitaskStrategy": strategy},
        })).json()
        if reply.get("type") != "success":
            if str(reply.get("message", "")).startswith("409"):
                raise Rejected(reply["message"])
            raise RuntimeError(f"run.start failed: {reply}")
        run_id = reply["result"]["run_id"]
        on_created(run_id)
        since = reply["meta"]["applied_through_seq"]
        body = {"channels": list(V2_CHANNELS), "since": since}
        async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[len("data: "):])
                if event.get("type") == "error":
                    raise RuntimeError(f"v2 stream: {event}")
                if event["seq"] != since + 1:
                    raise RuntimeError(f"v2 stream: seq {event['seq']} after {since} (lost or repeated events)")
                since = event["seq"]
                on_event(event["method"])
                data = event["params"]["data"]
                root_end = event["method"] == "lifecycle" and not event["params"]["namespace"] and data.get("event") != "running"
                if root_end and await self.run_status(thread_id, run_id) in ("success", "error", "interrupted", "timeout", "deleted"):
                    return
        raise RuntimeError("v2 stream ended before the run did")

    async def run_status(self, thread_id: str, run_id: str) -> str:
        try:
            return (await self.client.runs.get(thread_id, run_id))["status"]
        except Exception as exc:
            if _http_status(exc) == 404:
                return "deleted"
            raise

    async def state_done(self, thread_id: str) -> list[str]:
        state = await self.client.threads.get_state(thread_id)
        return list((state.get("values") or {}).get("done") or [])

    async def aclose(self) -> None:
        await self.client.http.client.aclose()


# --- servers the harness starts itself -----------------------------------------------------------


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server process on a free loopback port serving the benchmark graph, with its journal.

    `kind="switchboard"` runs `python -m server.cli serve`; `kind="reference"` runs `langgraph dev` from
    the given binary (a separate venv; never ours)."""

    def __init__(
        self,
        kind: str = "switchboard",
        langgraph_bin: str | None = None,
        journal: Path | None = None,
        storage: str = "memory",
        database_url: str | None = None,
        data_dir: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.journal = journal or new_journal()
        env = {**os.environ, JOURNAL_ENV: str(self.journal)}
        if kind == "switchboard":
            # In-memory storage by default, like the reference's inmem runtime; `sqlite` in a scratch
            # data dir (never the repository's .switchboard/, which one server at a time may hold).
            cmd = [sys.executable, "-m", "server.cli", "serve", "--config", CONFIG_PATH, "--port", str(self.port),
                   "--log-level", "warning", "--storage", storage, "--shutdown-grace", "1", *extra_args]
            if storage == "sqlite" and data_dir:  # the caller's (kept): a fault test's small disk
                cmd += ["--data-dir", data_dir]
            elif storage == "sqlite":
                self.data_dir = tempfile.TemporaryDirectory(prefix="switchboard-loadtest-data-")
                cmd += ["--data-dir", self.data_dir.name]
            if storage == "postgres":
                if not database_url:
                    raise ValueError("--storage postgres needs --database-url (a scratch database: the runs stay in it)")
                cmd += ["--database-url", database_url]
        elif kind == "reference":
            if not langgraph_bin:
                raise ValueError("the reference server needs the path of its `langgraph` binary")
            cmd = [langgraph_bin, "dev", "--config", CONFIG_PATH, "--port", str(self.port), "--host", "127.0.0.1",
                   "--no-browser", "--no-reload", "--n-jobs-per-worker", "10", "--allow-blocking"]  # the journal append is a sync write
            env.setdefault("LANGGRAPH_RUNTIME_EDITION", "inmem")
            env["LANGSMITH_TRACING"] = "false"
        else:
            raise ValueError(f"unknown server kind {kind!r}")
        self.log = tempfile.NamedTemporaryFile(prefix=f"switchboard-loadtest-{kind}-", suffix=".log", delete=False)
        # switchboard runs from the repository (for `server.cli`). `langgraph dev` resolves graph paths
        # against its working directory and leaves a `.langgraph_api/` there: it runs in a scratch
        # directory, with a langgraph.json naming the graph by absolute path.
        cwd = str(Path(CONFIG_PATH).parent.parent)
        if kind == "reference":
            self.scratch = tempfile.TemporaryDirectory(prefix="switchboard-loadtest-ref-")
            cwd = self.scratch.name
            graph_file = Path(CONFIG_PATH).parent / "graph.py"
            config = {"dependencies": [str(graph_file.parent)], "graphs": {GRAPH_ID: f"{graph_file}:graph"}}
            Path(cwd, "langgraph.json").write_text(json.dumps(config))
            cmd[cmd.index("--config") + 1] = str(Path(cwd, "langgraph.json"))
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.keep_log = True  # until it is up: a failure's message names the log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited ({self.proc.returncode}); log: {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/ok", timeout=1) as response:
                    if response.status == 200:
                        self.keep_log = False
                        return
            except OSError:
                time.sleep(0.1)  # not up yet: poll again until the deadline
        raise RuntimeError(f"{self.kind} server not ready within {timeout}s; log: {self.log.name}")

    def target(self) -> HttpTarget:
        return HttpTarget(self.url, self.journal, name=self.kind)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        if not getattr(self, "keep_log", False):
            os.unlink(self.log.name)
        for scratch in ("scratch", "data_dir"):
            if hasattr(self, scratch):
                getattr(self, scratch).cleanup()

    def __enter__(self) -> ServerProcess:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
