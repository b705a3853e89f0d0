"""The PostgreSQL writer's multi-row statements (actors/storage/postgres_rows.py): rows sent as one
statement mean what they meant one by one, on a real PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver

from actors.storage.postgres_rows import HeldRows, HoldingConnection, fold, foldable
from tests.backends import postgres_schema

UPSERT = "INSERT INTO t (k, first, v) VALUES (%s, %s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
IGNORE = "INSERT INTO t (k, first, v) VALUES (%s, %s, %s) ON CONFLICT (k) DO NOTHING"


def test_rows_with_one_key_fold_as_one_by_one() -> None:
    rows = [("a", "1", "x"), ("b", "1", "x"), ("a", "2", "y"), ("a", "3", "z")]
    # DO UPDATE SET v: the first row, with v of the last (`first` is never updated).
    assert fold(UPSERT, rows) == [["a", "1", "z"], ["b", "1", "x"]]
    # DO NOTHING: the first row.
    assert fold(IGNORE, rows) == [["a", "1", "x"], ["b", "1", "x"]]


def test_the_statements_it_folds() -> None:
    for sql in (PostgresSaver.UPSERT_CHECKPOINT_BLOBS_SQL, PostgresSaver.UPSERT_CHECKPOINTS_SQL,
                PostgresSaver.UPSERT_CHECKPOINT_WRITES_SQL, PostgresSaver.INSERT_CHECKPOINT_WRITES_SQL, UPSERT, IGNORE):
        assert foldable(sql), sql
    for sql in ("INSERT INTO t (k) VALUES (%s) ON CONFLICT (k) DO NOTHING RETURNING 1",  # a result to read
                "INSERT INTO t (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = t.v || EXCLUDED.v",
                "UPDATE t SET v = %s", "SELECT 1"):
        assert not foldable(sql), sql


def test_held_rows_go_out_before_any_other_statement_and_mean_the_same() -> None:
    try:
        with postgres_schema() as url, psycopg.connect(url, autocommit=True) as raw:
            raw.execute("CREATE TABLE t (k text PRIMARY KEY, first text, v text)")
            raw.execute("CREATE TABLE u (k text PRIMARY KEY)")
            held = HeldRows()
            conn = HoldingConnection(raw, held)
            with raw.pipeline():
                conn.execute("BEGIN")
                conn.execute(UPSERT, ("a", "1", "x"))
                conn.execute("INSERT INTO u (k) VALUES (%s) ON CONFLICT (k) DO NOTHING", ("u1",))
                with conn.cursor() as cur:
                    cur.executemany(UPSERT, [("a", "2", "y"), ("b", "1", "x")])
                    cur.executemany(IGNORE, [("b", "2", "ignored"), ("c", "1", "x")])
                assert raw.execute("SELECT count(*) FROM t").fetchone() == (0,)  # all held so far
                # Any other statement sends what is held first, so it sees the rows.
                assert conn.execute("SELECT k, first, v FROM t ORDER BY k").fetchall() == [
                    ("a", "1", "y"), ("b", "1", "x"), ("c", "1", "x")]
                conn.execute(UPSERT, ("c", "2", "z"))
                conn.execute("COMMIT")
            assert raw.execute("SELECT k, first, v FROM t ORDER BY k").fetchall() == [
                ("a", "1", "y"), ("b", "1", "x"), ("c", "1", "z")]
            assert raw.execute("SELECT k FROM u").fetchall() == [("u1",)]
    except psycopg.OperationalError as exc:  # pragma: no cover - PostgreSQL is started by .ci/run
        pytest.fail(f"PostgreSQL: {exc}")
