"""Several rows of one INSERT ... VALUES (...) [ON CONFLICT ...] statement as one statement.

On the PostgreSQL writer every statement of a batch is a separate message in its pipeline, and
psycopg hands the GIL away and back for each one; under load each hand-off waits for the threads
running graphs. LangGraph's `PostgresSaver` writes a checkpoint's blobs and a task's writes with
`executemany` (one statement per row), and a run's end is several record upserts. Here such rows
go out as one multi-row statement, with the meaning they had one by one: PostgreSQL refuses a
multi-row `ON CONFLICT DO UPDATE` that meets one key twice, so rows with the same key are folded
first - `DO NOTHING` keeps the first row, `DO UPDATE SET ...` the first row with the SET columns of
the last (the columns an update does not set keep the values of the row that inserted it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

_INSERT = re.compile(
    r"^\s*INSERT INTO\s+(?P<table>\w+)\s*\((?P<columns>[^)]*)\)\s*VALUES\s*(?P<values>\((?:\s*%s\s*,)*\s*%s\s*\))\s*"
    r"(?:ON CONFLICT\s*\((?P<conflict>[^)]*)\)\s*(?P<action>DO NOTHING|DO UPDATE SET\s+(?P<sets>.*?)))?\s*;?\s*$",
    re.S | re.I,
)
_SET = re.compile(r"(\w+)\s*=\s*EXCLUDED\.(\w+)", re.I)


class _Shape:
    """What folding needs to know of a statement: its key columns and the columns an update sets."""

    def __init__(self, sql: str) -> None:
        match = _INSERT.match(sql)
        if match is None:
            raise ValueError(f"not a single-row INSERT ... VALUES statement: {sql!r}")
        columns = [c.strip() for c in match["columns"].split(",")]
        self.head = sql[: match.start("values")]
        self.values = match["values"]
        self.tail = sql[match.end("values") :].rstrip().rstrip(";")
        self.key = [columns.index(c.strip()) for c in match["conflict"].split(",")] if match["conflict"] else None
        self.sets: list[int] | None = None
        if match["sets"]:  # only `column = EXCLUDED.column` items: the last row's value wins
            items = [_SET.fullmatch(item.strip()) for item in match["sets"].split(",")]
            if not all(item is not None and item[1] == item[2] for item in items):
                raise ValueError(f"an update that is not the new row's own values: {sql!r}")
            self.sets = [columns.index(item[1]) for item in items if item is not None]


@functools.lru_cache(maxsize=64)
def _shape(sql: str) -> _Shape:
    return _Shape(sql)


def foldable(sql: str) -> bool:
    try:
        _shape(sql)
    except ValueError:
        return False
    return True


def fold(sql: str, rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    """The rows as one statement would need them, with the meaning they had one by one."""
    shape = _shape(sql)
    rows = list(rows)
    if shape.key is None or len(rows) < 2:
        return rows
    folded: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        key = tuple(row[i] for i in shape.key)
        kept = folded.get(key)
        if kept is None:
            folded[key] = list(row)
        elif shape.sets is not None:
            for i in shape.sets:
                kept[i] = row[i]
    return list(folded.values())


def statement(sql: str, count: int) -> str:
    """`sql` with `count` rows of values."""
    shape = _shape(sql)
    return f"{shape.head}{', '.join([shape.values] * count)}{shape.tail}"


def execute_rows(conn: Any, sql: str, rows: Iterable[Sequence[Any]], per_statement: int = 200) -> None:
    """Send `rows` of `sql` as few statements as possible (on a connection or cursor)."""
    folded = fold(sql, rows)
    for start in range(0, len(folded), per_statement):
        chunk = folded[start : start + per_statement]
        conn.execute(statement(sql, len(chunk)), [v for row in chunk for v in row])


class HeldRows:
    """The foldable INSERTs of a writer transaction, kept back and sent together before any other
    statement (which may read or change those rows) and before COMMIT. Rows are grouped per table:
    a transaction's statements on different tables can go out in any order (these tables have no
    foreign keys or triggers between them); on one table they keep their order."""

    def __init__(self) -> None:
        self._runs: list[tuple[str, str, list[Sequence[Any]]]] = []  # (table, sql, rows)

    def add(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        table = _shape(sql).head.split("(", 1)[0].split()[-1]
        for i in range(len(self._runs) - 1, -1, -1):
            if self._runs[i][0] == table:
                if self._runs[i][1] == sql:
                    self._runs[i][2].extend(rows)
                    return
                break
        self._runs.append((table, sql, list(rows)))

    def flush(self, conn: Any) -> None:
        runs, self._runs = self._runs, []
        for _table, sql, rows in runs:
            execute_rows(conn, sql, rows)

    def discard(self) -> None:
        self._runs.clear()


class HoldingConnection:
    """The writer's connection as its calls see it: foldable INSERTs are held (`HeldRows`); any
    other statement first sends what is held. Everything else is the psycopg connection's."""

    def __init__(self, conn: Any, held: HeldRows) -> None:
        self._conn, self._held = conn, held

    def execute(self, sql: Any, params: Any = None, **kwargs: Any) -> Any:
        if isinstance(sql, str) and params is not None and not kwargs and foldable(sql):
            self._held.add(sql, [params])
            return None
        self._held.flush(self._conn)
        return self._conn.execute(sql, params, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return _HoldingCursor(self._conn.cursor(*args, **kwargs), self._held, self._conn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _HoldingCursor:
    def __init__(self, cursor: Any, held: HeldRows, conn: Any) -> None:
        self._cursor, self._held, self._conn = cursor, held, conn

    def execute(self, sql: Any, params: Any = None, **kwargs: Any) -> Any:
        if isinstance(sql, str) and params is not None and not kwargs and foldable(sql):
            self._held.add(sql, [params])
            return self
        self._held.flush(self._conn)
        return self._cursor.execute(sql, params, **kwargs)

    def executemany(self, sql: Any, rows: Iterable[Sequence[Any]], **kwargs: Any) -> Any:
        if isinstance(sql, str) and not kwargs and foldable(sql):
            self._held.add(sql, rows)
            return None
        self._held.flush(self._conn)
        return self._cursor.executemany(sql, rows, **kwargs)

    def __enter__(self) -> _HoldingCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cursor.close()

    def __iter__(self) -> Any:
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
