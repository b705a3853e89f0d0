"""The cluster's tables, created at start-up of a cluster-mode process (never in single-process mode,
so those databases are untouched). `IF NOT EXISTS` under a transaction-scoped advisory lock: several
processes starting at once do not race."""

from __future__ import annotations

from typing import Any

FENCED_SQLSTATE = "SBFEN"
"""The SQLSTATE `switchboard_fence` raises: this process does not own the thread it writes for."""

SCHEMA_LOCK = 0x5377_436C  # pg_advisory_xact_lock key: "SwCl"

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS cluster_members (
        process_id uuid PRIMARY KEY,
        advertise_url text NOT NULL,
        lease_until timestamptz NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS thread_owners (
        thread_id text PRIMARY KEY,
        process_id uuid,
        epoch bigint NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS thread_owners_process ON thread_owners (process_id)",
    # The cluster secret (trust.py): one row, made by the first process; peers sign with it.
    """CREATE TABLE IF NOT EXISTS cluster_secret (
        id integer PRIMARY KEY CHECK (id = 1),
        secret bytea NOT NULL
    )""",
    # The backend of the member's group-commit writer: a taker ends it if the member lapsed while
    # in the middle of a transaction (its share locks would otherwise block the takeover until it woke).
    "ALTER TABLE cluster_members ADD COLUMN IF NOT EXISTS writer_pid integer",
    # The fence, checked inside the writing transaction. FOR SHARE against a taker's UPDATE makes
    # "committed before the takeover" or "refused" the only outcomes. With an epoch: this process must
    # own the thread at that epoch with a live lease. Without (a write for a thread it does not own,
    # such as a copy's new thread): nobody else may own it.
    f"""CREATE OR REPLACE FUNCTION switchboard_fence(t text, p uuid, e bigint) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        IF e IS NULL THEN
            PERFORM 1 FROM thread_owners WHERE thread_id = t AND process_id <> p FOR SHARE;
            IF FOUND THEN
                RAISE EXCEPTION 'thread % is owned by another process', t USING ERRCODE = '{FENCED_SQLSTATE}';
            END IF;
        ELSE
            PERFORM 1 FROM thread_owners o JOIN cluster_members m ON m.process_id = o.process_id
                WHERE o.thread_id = t AND o.process_id = p AND o.epoch = e AND m.lease_until > now()
                FOR SHARE OF o;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'thread % is no longer owned by this process at epoch %', t, e
                    USING ERRCODE = '{FENCED_SQLSTATE}';
            END IF;
        END IF;
    END $$""",
)


def ensure_schema(conn: Any) -> None:
    """Create the cluster tables and the fence function if missing (`conn`: autocommit psycopg)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in STATEMENTS:
            conn.execute(statement)
