"""Real `switchboard serve` processes in cluster mode on one fresh PostgreSQL schema and a Redis
database of their own, for tests/test_cluster_*.py."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.backends import postgres_schema
from tests.server_process import ServerProcess, free_port

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


def owner_of(database_url: str, thread_id: str) -> tuple[Any, int] | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT process_id, epoch FROM thread_owners WHERE thread_id = %s", (thread_id,)).fetchone()
    return None if row is None else (row[0], row[1])
