"""ClusterNode: this process as a member of a cluster (cluster mode only; see __init__.py). It wires
membership, ownership, fencing, routing, takeover and signals together, and runs one timer: every
`lease / 4` it gives up threads it no longer serves (no actor, untouched for the idle timeout) and
takes over orphaned ones."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Any

from psycopg_pool import ConnectionPool

from ..errors import OwnedElsewhere, ShuttingDown
from ..runs import messages as m
from .crons import CronLeader, PeerRuns
from .fencing import Fencing
from .members import Membership
from .ownership import Ownership
from .routing import Router
from .schema import ensure_schema
from .signals import Signals
from .takeover import Takeover
from .trust import PeerTrust, load_secret

log = logging.getLogger("switchboard.cluster")


def advertise_url(settings: Any) -> str:
    if settings.advertise_url:
        return settings.advertise_url.rstrip("/")
    return f"http://{settings.internal_host or settings.host}:{settings.internal_port}"


class ClusterNode:
    def __init__(self, ctx: Any) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.lease = settings.lease_seconds
        self.pool = ConnectionPool(
            settings.database_url, min_size=1, max_size=4, open=True, timeout=5,
            kwargs={"autocommit": True, "connect_timeout": 3},
        )
        try:
            with self.pool.connection() as conn:
                ensure_schema(conn)
                self.trust = PeerTrust(load_secret(conn))
            self.membership = Membership(self.pool, advertise_url(settings), self.lease)
            self.ownership = Ownership(self.pool, self.membership)
            self.fencing = Fencing(self.ownership)
            self.takeover = Takeover(self.pool, self.ownership, ctx, accepting=lambda: not ctx.draining)
            self.router = Router(self.ownership, self.lease, self.takeover.adopt, draining=lambda: ctx.draining)
            self.signals = Signals(settings.redis_url, on_wake=self.wake)
            self.cron_leader = CronLeader(settings.database_url)
            self.peer_runs = PeerRuns(self.trust, self.router.reroute)
        except BaseException:
            self.pool.close()
            raise
        self.membership.on_lapsed = self._lapsed
        ctx.registry.on_hand_over = self._handed_over
        writer = ctx.storage.writer
        writer.fencing = self.fencing
        # A process paused mid-transaction (SIGSTOP, a VM freeze) would hold its fences' share locks,
        # and so block its takers, until it woke: the database ends such a transaction after half a
        # lease instead (the paused process's writes are refused anyway).
        timeout_ms = max(int(self.lease * 500), 100)

        def limit_idle_transactions() -> None:
            writer.conn.execute(f"SET idle_in_transaction_session_timeout = {timeout_ms}")

        limit_idle_transactions()
        writer.on_reconnect = limit_idle_transactions
        self.membership.writer_pid = lambda: None if writer.conn.closed else writer.conn.info.backend_pid
        self._chores = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="switchboard-cluster-chores")
        self._stop = threading.Event()
        self._woken = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def process_id(self) -> Any:
        return self.membership.process_id

    def start(self) -> None:
        self.membership.register()
        self.membership.start()
        self.signals.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="switchboard-cluster", daemon=True)
        self._ticker.start()
        log.info("cluster: joined as %s (%s)", self.process_id, self.membership.advertise_url)

    def claim(self, thread_id: str) -> None:
        """Before a thread actor starts here: the thread must be (or become) this process's."""
        if self.ownership.owns(thread_id):
            return
        if self.ctx.draining:  # handing threads over, never taking them
            raise ShuttingDown("The server is shutting down; retry shortly (another process takes the thread).")
        owner = self.ownership.acquire(thread_id)
        if owner.process_id != self.process_id:
            raise OwnedElsewhere(f"thread {thread_id} is served by another process", owner.advertise_url)
        if owner.taken:  # recover what its last owner left; the actor starts next
            self.takeover.adopt(thread_id, wake=False)

    def deleted(self, thread_id: str, done: concurrent.futures.Future[Any]) -> concurrent.futures.Future[Any]:
        """A thread was deleted here: once `done` (its last write: its checkpoints' deletion) its owner
        row goes (`Ownership.forget`), unless an actor of a thread with its id runs here again by
        then. Off the caller's thread (a database call); the future returned ends as `done` did."""
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def forget(_done: concurrent.futures.Future[Any]) -> None:
            try:
                if not _done.cancelled() and _done.exception() is None:
                    self.ctx.registry.without_actor([thread_id], self.ownership.forget)
            except Exception:  # noqa: BLE001 - the row stays (as a released one would): harmless
                log.warning("cluster: the owner row of deleted thread %s stays", thread_id, exc_info=True)
            finally:
                _chain(_done, outcome)

        def later(_done: concurrent.futures.Future[Any]) -> None:
            try:
                self._chores.submit(forget, _done)
            except RuntimeError:  # shutting down: the row stays
                _chain(_done, outcome)

        done.add_done_callback(later)
        return outcome

    def owns(self, thread_id: str) -> bool:
        return self.ownership.epoch(thread_id) is not None

    def wake(self) -> None:
        """Look for orphaned threads now (a peer released some, or left)."""
        self._woken.set()

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the database is away: next tick
                log.warning("cluster: tick failed", exc_info=True)
            self._woken.wait(self.lease / 4)
            self._woken.clear()

    def tick(self) -> None:
        self.release_idle()
        self.takeover.tick()

    def release_idle(self) -> None:
        """Give up owned threads with no live actor, untouched for the idle timeout."""
        idle_for = self.ctx.settings.idle_timeout
        idle = self.ownership.idle(idle_for)
        if idle:
            released = self.ctx.registry.without_actor(idle, lambda ids: self.ownership.release(ids, idle_for=idle_for))
            if released:
                self.signals.released(len(released))

    def hand_over(self) -> None:
        """SIGTERM: give every thread up as soon as no run of it is running here - at once for those
        without an actor, the others when their actors are free (`HandOver`)."""
        self.ctx.registry.without_actor(list(self.ownership.fences), self._handed_over)
        for ref in self.ctx.registry.refs():
            try:
                ref.tell(m.HandOver())
            except Exception:  # noqa: BLE001 - it stopped meanwhile
                pass

    def _handed_over(self, thread_ids: list[str]) -> list[str]:
        released = self.ownership.release(thread_ids)
        if released:
            self.signals.released(len(released))
        return released

    def _lapsed(self) -> None:
        """Declared dead by the others: stop every thread actor here without writing."""
        lost = self.ownership.forget_all()
        for ref in self.ctx.registry.refs():
            ref.stop(block=False)
        log.error("cluster: gave up %d thread(s) after the lease lapsed", len(lost))

    def leave(self) -> None:
        """After the drain (SIGTERM): release every thread and leave; peers take over at once."""
        self._stop.set()
        self._woken.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        try:
            self.ownership.release_all()
        except Exception:  # noqa: BLE001 - on the way out; the lease lapses anyway
            log.warning("cluster: releasing threads failed", exc_info=True)
        self.membership.leave()
        self.signals.released(-1)
        self.signals.close()
        self.cron_leader.close()

    def close(self) -> None:
        if not self._stop.is_set():
            self.leave()
        self._chores.shutdown(wait=True)
        self.pool.close()


def _chain(source: concurrent.futures.Future[Any], target: concurrent.futures.Future[Any]) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
