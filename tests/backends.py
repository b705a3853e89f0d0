"""Storage backends for tests: memory, SQLite in a temp dir, PostgreSQL in a fresh schema of the
`test` database on 127.0.0.1:5432 (a real server; .ci/run starts it). Each gives settings that
`open_storage` / `ActorSystem` / `switchboard serve` accept, and cleans up after itself."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

BACKENDS = ("memory", "sqlite", "postgres")
DURABLE_BACKENDS = ("sqlite", "postgres")
ADMIN_URL = os.environ.get("SWITCHBOARD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def schema_url(schema: str) -> str:
    sep = "&" if "?" in ADMIN_URL else "?"
    return f"{ADMIN_URL}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema; yields a database URL whose search_path is that schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        conn = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        # On a laptop with only Python, skip; in CI (which starts PostgreSQL) this is a failure.
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {ADMIN_URL} ({exc}); .ci/run starts it")
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def backend_settings(backend: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Settings fields (storage, data_dir, database_url) for a fresh, empty backend."""
    if backend == "postgres":
        with postgres_schema() as url:
            yield {"storage": "postgres", "database_url": url, "database_pool_size": 4}
    elif backend == "sqlite":
        yield {"storage": "sqlite", "data_dir": str(tmp_path / "data")}
    else:
        yield {"storage": "memory"}


def cli_args(settings: dict[str, Any]) -> list[str]:
    """The `switchboard serve` flags for these settings."""
    args = ["--storage", settings["storage"]]
    if settings.get("data_dir"):
        args += ["--data-dir", settings["data_dir"]]
    if settings.get("database_url"):
        args += ["--database-url", settings["database_url"]]
    return args
