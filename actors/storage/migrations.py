"""Versioned schema migrations of the record table, applied at start-up (SQLite and PostgreSQL).

Each migration is applied once, in order, in one transaction with the row that records it in
`switchboard_migrations`. Never edit a released migration: append a new one. LangGraph's
checkpointer and store keep their own migration tables (`checkpoint_migrations`, `store_migrations`)
and are migrated by their `setup()`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Dialect = Literal["sqlite", "postgres"]


class Migration(msgspec.Struct, frozen=True):
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "records: (kind, key) -> JSON data, indexed parent and status, insertion order seq",
        sqlite=(
            """CREATE TABLE records (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                parent TEXT,
                status TEXT,
                data BLOB NOT NULL,
                UNIQUE (kind, key)
            )""",
            "CREATE INDEX records_parent ON records (kind, parent, seq)",
            "CREATE INDEX records_status ON records (kind, status, seq)",
        ),
        postgres=(
            """CREATE TABLE records (
                seq BIGSERIAL PRIMARY KEY,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                parent TEXT,
                status TEXT,
                data BYTEA NOT NULL,
                UNIQUE (kind, key)
            )""",
            "CREATE INDEX records_parent ON records (kind, parent, seq)",
            "CREATE INDEX records_status ON records (kind, status, seq)",
        ),
    ),
)

MIGRATIONS_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS switchboard_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)",
    "postgres": "CREATE TABLE IF NOT EXISTS switchboard_migrations (version INTEGER PRIMARY KEY, description TEXT, applied_at TIMESTAMPTZ DEFAULT now())",
}


def pending(applied: set[int]) -> list[Migration]:
    newest_known = MIGRATIONS[-1].version
    if applied and max(applied) > newest_known:
        raise RuntimeError(
            f"the database schema is at version {max(applied)}, newer than this switchboard knows "
            f"({newest_known}); upgrade switchboard"
        )
    return [m for m in MIGRATIONS if m.version not in applied]
