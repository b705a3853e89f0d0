"""Configuration in one place: built from CLI flags (server/cli.py) or by embedding code, passed down."""

from __future__ import annotations

import msgspec


class Settings(msgspec.Struct, kw_only=True):
    config_path: str | None = None
    """A langgraph.json; its graphs are served. None: graphs are given in code."""
    host: str = "127.0.0.1"
    port: int = 8123
    storage: str = "memory"
    """Backend: "memory" (nothing survives the process), "sqlite" (files in `data_dir`) or "postgres"
    (`database_url`). `switchboard serve` defaults to sqlite; embedding code and tests to memory."""
    data_dir: str = ".switchboard"
    """Where the SQLite backend keeps its files (created if missing)."""
    database_url: str | None = None
    """postgresql://... for the PostgreSQL backend."""
    database_pool_size: int = 8
    """Connections per pool (the record pool and the checkpointer's async pool each)."""
    durability: str = "sync"
    """LangGraph checkpoint durability for runs that do not ask for one: "sync" writes each step's
    checkpoint before the next step starts, so every completed step survives a crash ("async"
    overlaps the write with the next step; "exit" writes only at the end)."""
    run_timeout: float = 86400.0
    """Seconds a run may execute before it is stopped and ends `timeout` (its thread `error`; its
    completed steps stay). As the reference server's BG_JOB_TIMEOUT_SECS, whose default it shares."""
    shutdown_grace: float = 30.0
    """On SIGTERM/Ctrl-C: seconds running runs get to finish before they are interrupted."""
    idle_timeout: float = 30.0
    """Seconds an idle thread actor lives before it is passivated (its state is in storage)."""
    stream_keep_seconds: float = 60.0
    """How long a finished resumable run keeps its events for late joiners."""
    protocol_buffer_events: int = 10_000
    """Protocol v2: the most events a thread's replay buffer keeps (as the reference's default)."""
    protocol_buffer_seconds: float = 600.0
    """Protocol v2: the oldest event a thread's replay buffer keeps, in seconds; a buffer nobody
    reads, whose thread runs nothing, is dropped after this long idle."""
    actor_workers: int = 16
    """Worker threads thread actors take turns on. A turn may block on a storage call, so a few
    more than the cores; thread actors no longer hold a thread each (actors/kernel/dispatch.py)."""
    storage_patience: float = 5.0
    """Seconds a thread actor's storage call waits for an unavailable database (a PostgreSQL
    restart, a full disk) before the actor gives up on the message and repairs the thread once the
    database is back (docs/storage.md, "Faults"). HTTP requests never wait: they get a 503."""
    max_sync_workers: int = 64
    """Threads for sync graph nodes."""
    send_webhooks: bool = True
    """False: runs' `webhook`s are accepted but never called (langgraph.json `http.disable_webhooks`)."""
    webhook_attempts: int = 3
    """How many times a run's webhook is tried before it is given up."""
    webhook_timeout: float = 10.0
    """Seconds one webhook POST may take."""
    webhook_backoff: float = 0.5
    """Seconds before the first retry of a webhook; doubled each retry."""
    redis_url: str | None = None
    """Cluster mode (with PostgreSQL storage): several processes serve one database; Redis carries
    their wake-ups (hand-overs). None: one process per database, as always (docs/architecture.md)."""
    lease_seconds: float = 10.0
    """Cluster mode: how long a process that stopped heartbeating still owns its threads."""
    advertise_url: str | None = None
    """Cluster mode: how peers reach this process's internal listener (default: http://{internal
    host}:{internal port})."""
    internal_host: str | None = None
    """Cluster mode: address of the listener for peer-forwarded requests (default: `host`)."""
    internal_port: int = 0
    """Cluster mode: its port (0: any free one)."""

    @property
    def cluster(self) -> bool:
        """Cluster mode: PostgreSQL storage and a Redis URL."""
        return self.storage == "postgres" and self.redis_url is not None
