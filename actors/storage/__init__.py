"""Storage backends behind one interface (`Storage`): memory, SQLite (the default), PostgreSQL.

All three are `RecordStorage` over a different `RecordTable` (see records.py, docs/storage.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Storage, StorageUnavailable
from .memory import MemoryStorage
from .record_storage import RecordStorage

if TYPE_CHECKING:
    from ..kernel.runtime import GraphLoop
    from ..config.settings import Settings

__all__ = ["MemoryStorage", "RecordStorage", "Storage", "StorageUnavailable", "open_storage"]


def open_storage(settings: Settings, runtime: GraphLoop) -> RecordStorage:
    """The backend the settings name; async parts are created on `runtime`'s loop."""
    if settings.storage == "memory":
        return MemoryStorage()
    if settings.storage == "sqlite":
        from .sqlite import SqliteStorage

        return SqliteStorage(settings.data_dir, runtime)
    if settings.storage == "postgres":
        from .postgres import PostgresStorage

        if not settings.database_url:
            raise ValueError("storage 'postgres' needs a database URL (--database-url)")
        return PostgresStorage(
            settings.database_url, runtime, pool_size=settings.database_pool_size, exclusive=not settings.cluster
        )
    raise ValueError(f"unknown storage {settings.storage!r}: use memory, sqlite or postgres")
