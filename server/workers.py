"""`switchboard serve --workers N`: N cluster processes on one public port, so one machine's cores all
run graphs. Each worker is an ordinary `switchboard serve` (same flags, minus `--workers`) that binds
the public port with SO_REUSEPORT - the kernel spreads new connections over the workers - and its own
internal port for requests its peers forward (docs/deploy.md). Cluster mode is required: the workers
are separate processes on one database, so they need PostgreSQL and Redis like any other cluster.

The supervisor only starts, watches and stops the workers: SIGTERM/SIGINT is passed on to each (each
drains and hands its threads over); a worker that dies on its own is started again (its threads were
taken over by the others meanwhile), unless it exits 2 (a configuration error: all stop)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger("switchboard.workers")

REUSE_PORT_FLAG = "--reuse-port"  # internal: a worker binds the public port with SO_REUSEPORT


def refusal(args: object) -> str | None:
    """Why `--workers N` cannot run with these flags (one line), or None."""
    workers = getattr(args, "workers", 1)
    if workers < 1:
        return "--workers must be at least 1"
    if workers == 1:
        return None
    postgres = (getattr(args, "storage", None) or ("postgres" if getattr(args, "database_url", None) else "sqlite")) == "postgres"
    if not (postgres and getattr(args, "database_url", None) and getattr(args, "redis_url", None)):
        return ("--workers N runs N processes on one database: it needs PostgreSQL and Redis "
                "(--database-url postgresql://... --redis-url redis://...)")
    if getattr(args, "port", 8123) == 0:
        return "--workers N shares one public port: give --port a number, not 0"
    if getattr(args, "internal_port", 0):
        return "--workers N gives each worker its own internal port: leave --internal-port unset (0)"
    if getattr(args, "advertise_url", None):
        return "--workers N gives each worker its own advertise URL: leave --advertise-url unset"
    return None


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port that other workers may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # IPPROTO_TCP: asyncio sets TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def worker_argv(argv: list[str]) -> list[str]:
    """The `serve` arguments without `--workers N` / `--workers=N`, plus the internal reuse-port flag."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers="):
            continue
        out.append(arg)
    return [*out, REUSE_PORT_FLAG]


class Supervisor:
    """Starts N workers and keeps them running until SIGTERM/SIGINT."""

    def __init__(self, workers: int, serve_argv: list[str], restart_backoff: float = 1.0) -> None:
        self.count = workers
        self.cmd = [sys.executable, "-m", "server.cli", "serve", *worker_argv(serve_argv)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.backoff = restart_backoff

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(sig)  # a second signal reaches them too: they stop at once

    def _start(self) -> subprocess.Popen[bytes]:
        # Its own session: a terminal's Ctrl-C reaches the supervisor only, which passes it on once.
        return subprocess.Popen(self.cmd, start_new_session=True, preexec_fn=_die_with_parent)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.procs = [self._start() for _ in range(self.count)]
        print(f"switchboard: {self.count} workers (pids {' '.join(str(p.pid) for p in self.procs)})", flush=True)
        while any(proc.returncode is None for proc in self.procs):
            try:
                pid, status = os.wait()  # signals run their handler and the wait goes on (PEP 475)
            except ChildProcessError:
                break
            index = next((i for i, proc in enumerate(self.procs) if proc.pid == pid), None)
            if index is None:
                continue
            code = self.procs[index].returncode = os.waitstatus_to_exitcode(status)
            if self.stopping:
                continue
            if code == 2:
                print("switchboard: a worker refused its configuration; stopping the others", file=sys.stderr)
                self._on_signal(signal.SIGTERM, None)
                for proc in self.procs:
                    proc.wait()
                return 2
            log.warning("worker %d exited with %s; starting it again", pid, code)
            time.sleep(self.backoff)  # a crash loop must not spin
            self.procs[index] = self._start()
        return 0


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the supervisor dies (Linux), so no worker is orphaned."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
