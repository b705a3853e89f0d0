"""Real clusters for tests: N `switchboard serve` processes on one fresh PostgreSQL schema and one
Redis, serving the load-test benchmark graph with one shared journal (so the harness and its checker
see them as one server), plus the faults a cluster must survive: `kill -9`, `SIGSTOP`/`SIGCONT`,
`SIGTERM`. Every wait has a deadline; nothing sleeps to synchronise.

`PrivateRedis` is a redis-server of the test's own (free loopback port, no persistence), so a test may
stop it without touching the shared one on 6379. At the end: `ClusterProcess`, `cluster_backends` and
`owner_of`, smaller pieces the core's tests (tests/test_cluster_routing.py ...) use."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from loadtest.graph import CONFIG_PATH, JOURNAL_ENV
from loadtest.targets import HttpTarget, new_journal
from loadtest.spread import SpreadTarget
from tests.backends import postgres_schema
from tests.conftest import wait_until
from tests.server_process import ROOT, ServerProcess, free_port


class PrivateRedis:
    """redis-server on a free loopback port, in a temp dir, nothing persisted."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self.ping, timeout=20, interval=0.02)
        return self

    def ping(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited {self.proc.returncode}: {(self.dir / 'redis.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """As if it crashed: SIGKILL (the port stays ours to start it again)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Member:
    """One `switchboard serve` process of a cluster."""

    def __init__(self, index: int, cmd: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.index, self.cmd, self.env, self.port, self.log = index, cmd, env, port, log
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"server {self.index} exited with {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/ok", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused one must be able to die
            self.proc.kill()
            self.proc.wait(timeout=30)


class Cluster:
    """N switchboard processes as one server: a fresh PostgreSQL schema, one Redis (a private one
    unless `redis_url` is given), the benchmark graph, one journal. Use as a context manager."""

    def __init__(self, processes: int = 3, *, redis_url: str | None = None, lease_seconds: float | None = None,
                 extra_args: tuple[str, ...] = (), config: str = CONFIG_PATH, together: bool = False) -> None:
        """`together`: start every process at once on the fresh database (by default the first one
        starts alone and makes the tables)."""
        self.count = processes
        self.lease_seconds = lease_seconds
        self.extra_args = extra_args
        self.config = config
        self.together = together
        self.members: list[Member] = []
        self.journal = new_journal()
        self.workdir = Path(tempfile.mkdtemp(prefix="switchboard-cluster-"))
        self._stack = ExitStack()
        self.redis: PrivateRedis | None = None
        self.redis_url = redis_url or ""
        self.database_url = ""

    def __enter__(self) -> Cluster:
        try:
            self.database_url = self._stack.enter_context(postgres_schema())
            if not self.redis_url:
                self.redis = self._stack.enter_context(PrivateRedis())
                self.redis_url = self.redis.url
            self.start_member(wait=not self.together)  # by default the first one creates the tables alone
            for _ in range(self.count - 1):
                self.start_member(wait=False)
            self.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start_member(self, *extra: str, wait: bool = True) -> Member:
        port = free_port()
        cmd = [sys.executable, "-m", "server.cli", "serve", "--config", self.config, "--port", str(port),
               "--log-level", "warning", "--database-url", self.database_url, "--redis-url", self.redis_url,
               "--shutdown-grace", "2", *self.extra_args, *extra]
        if self.lease_seconds is not None:
            cmd += ["--lease-seconds", str(self.lease_seconds)]
        env = {**os.environ, JOURNAL_ENV: str(self.journal), "PYTHONPATH": str(ROOT)}
        member = Member(len(self.members), cmd, env, port, self.workdir / f"server-{len(self.members)}.log")
        self.members.append(member)
        if wait:
            wait_until(member.ready, timeout=60, interval=0.05)
        return member

    def wait_ready(self, timeout: float = 60) -> None:
        for member in self.members:
            if member.alive():
                wait_until(member.ready, timeout=timeout, interval=0.05)

    @property
    def live(self) -> list[Member]:
        return [m for m in self.members if m.alive()]

    def target(self, members: list[Member] | None = None) -> SpreadTarget:
        """The harness's target: requests spread round-robin over `members` (default: all live)."""
        chosen = members or self.live
        return SpreadTarget([HttpTarget(m.url, self.journal) for m in chosen], name=f"cluster of {len(chosen)}")

    def logs(self) -> str:
        return "\n".join(f"--- server {m.index} (pid {m.pid})\n{m.log.read_text()[-3000:]}" for m in self.members)

    def __exit__(self, *exc: Any) -> None:
        for member in self.members:
            member.stop()
        self._stack.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.journal.exists():
            self.journal.unlink()


# --- the core's pieces: one member at a time on the shared Redis (a database number of its own) ---

REDIS_URL = os.environ.get("SWITCHBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379")
_dbs = itertools.count(8 + os.getpid() % 7)


class ClusterProcess(ServerProcess):
    """One member; `internal_url` is its advertise URL (its internal port is chosen here)."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str, *extra: str, lease: float = 2.0) -> None:
        self.internal_port = free_port()
        self.internal_url = f"http://127.0.0.1:{self.internal_port}"
        super().__init__(
            workdir, ["--database-url", database_url], "--redis-url", redis_url, "--lease-seconds", str(lease),
            "--internal-port", str(self.internal_port), *extra,
        )

    def process_id(self, database_url: str) -> Any:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT process_id FROM cluster_members WHERE advertise_url = %s", (self.internal_url,)).fetchone()
        return None if row is None else row[0]


@contextmanager
def cluster_backends() -> Iterator[tuple[str, str]]:
    """A fresh schema and an empty Redis database (numbers 8-15, flushed after)."""
    db = next(_dbs) % 8 + 8
    redis_url = f"{REDIS_URL}/{db}"
    with postgres_schema() as database_url:
        try:
            yield database_url, redis_url
        finally:
            redis.Redis.from_url(redis_url).flushdb()


@contextmanager
def process_pair(make_dir: Any, *, lease: float = 2.0, args_a: tuple[str, ...] = ()) -> Iterator[tuple[ClusterProcess, ClusterProcess, str]]:
    """Two cluster processes A and B on fresh backends, and the database URL; `make_dir(name)` gives
    each its own directory (a module fixture's `tmp_path_factory.mktemp`); `args_a`: A's own flags."""
    with cluster_backends() as (database_url, redis_url):
        a = ClusterProcess(make_dir("a"), database_url, redis_url, *args_a, lease=lease)
        b = ClusterProcess(make_dir("b"), database_url, redis_url, lease=lease)
        try:
            a.start()
            b.start()
            yield a, b, database_url
        finally:
            a.stop()
            b.stop()


def owner_of(database_url: str, thread_id: str) -> tuple[Any, int] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT process_id, epoch FROM thread_owners WHERE thread_id = %s", (thread_id,)).fetchone()
    return None if row is None else (row[0], row[1])
