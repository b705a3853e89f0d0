"""The SQLite checkpoint writer's held INSERTs (actors/storage/sqlite_inserts.py): a batch's INSERTs
go out together before its commit, with the meaning they had one by one."""

from __future__ import annotations

import sqlite3

from actors.storage.group_commit import Call
from actors.storage.sqlite_checkpointer import run_batch
from actors.storage.sqlite_inserts import HeldInserts, HoldingCursor

REPLACE = "INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)"
IGNORE = "INSERT OR IGNORE INTO t (k, v) VALUES (?, ?)"


def _db() -> tuple[sqlite3.Connection, HeldInserts]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    return conn, HeldInserts(conn)


def _rows(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT k, v FROM t"))


def test_held_inserts_keep_their_order_and_meaning() -> None:
    conn, held = _db()
    cur = HoldingCursor(conn.cursor(), held)
    cur.execute(REPLACE, ("a", "1"))
    cur.executemany(REPLACE, [("a", "2"), ("b", "1")])  # the later row wins, as one by one
    cur.executemany(IGNORE, [("b", "2"), ("c", "1"), ("c", "2")])  # the earlier row stays
    cur.executemany(REPLACE, [(f"n{i}", str(i)) for i in range(250)])  # more rows than one statement takes
    assert _rows(conn) == {}  # nothing sent yet
    cur.execute("SELECT count(*) FROM t")  # any other statement sends them first
    assert cur.fetchone() == (253,)
    assert {k: v for k, v in _rows(conn).items() if not k.startswith("n")} == {"a": "2", "b": "1", "c": "1"}


def test_a_failing_call_fails_alone_and_what_it_held_is_dropped() -> None:
    conn, held = _db()

    def put(key: str) -> str:
        HoldingCursor(conn.cursor(), held).execute(REPLACE, (key, "v"))
        return key

    def put_then_fail() -> None:
        HoldingCursor(conn.cursor(), held).execute(REPLACE, ("bad", "v"))
        raise ValueError("cannot serialize")

    calls = [Call(put, ("a",), True, None), Call(put_then_fail, (), True, None), Call(put, ("b",), True, None)]
    run_batch(conn, calls, held)
    assert [c.result for c in calls] == ["a", None, "b"]
    assert isinstance(calls[1].error, ValueError)
    assert _rows(conn) == {"a": "v", "b": "v"}
    # Nothing of the failed call is left held for a later statement to send.
    run_batch(conn, [Call(lambda: HoldingCursor(conn.cursor(), held).execute("SELECT 1").fetchone(), (), False, None)], held)
    assert _rows(conn) == {"a": "v", "b": "v"}
