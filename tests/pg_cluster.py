"""A private PostgreSQL cluster for fault tests: `initdb` + `pg_ctl` from the installed server
binaries, in a temporary directory, on a free loopback port - so a test may stop, restart and
kill it without touching the shared server other tests use. As root, the cluster runs as the
`postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from tests.server_process import free_port


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    def __init__(self) -> None:
        bindir = server_binaries()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        settings = {
            "port": self.port,
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",  # a scratch cluster: speed over durability
            "max_connections": 100,
        }
        self._configure(settings)

    def _configure(self, settings: dict[str, Any]) -> None:
        with open(self.data / "postgresql.conf", "a") as conf:  # the last setting of a name wins
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        kwargs: dict[str, Any] = {"user": self.user} if self.user else {}
        return subprocess.run(
            [str(self.bindir / tool), *args], check=True, capture_output=True, cwd=self.root, timeout=60, **kwargs
        )

    def start(self, *, first: bool = False) -> None:
        """Start the cluster. The first start moves to another free port if its port was taken
        meanwhile (the machine is shared); a restart keeps the port clients know."""
        for attempt in range(3 if first else 1):
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "30", "start")
                return
            except subprocess.CalledProcessError:
                if attempt == 2 or not first or "could not bind" not in (self.root / "server.log").read_text():
                    raise
                self.port = free_port()
                self._configure({"port": self.port})

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended (clients see AdminShutdown); `immediate`: like a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
