"""Crons: schedules that create runs, and the scheduler that fires them.

A cron is a record in storage (`models.Cron`); `CronScheduler` keeps them and fires the due ones
from one asyncio task on the graph loop. Firing a cron is an ordinary run request: a thread cron
sends `CreateRun` to its thread actor, so on a busy thread the run follows the cron's
`multitask_strategy` like any double text (`reject` drops that firing, `enqueue` queues it, ...);
a cron without a thread creates a new thread for every firing, deleted after the run when
`on_run_completed="delete"` (the default).

Schedules are cron expressions parsed by croniter: five fields (minute resolution, as the
reference server) or six, the sixth being seconds. Times are computed in the cron's `timezone`
(UTC by default). A firing missed while the server was down (or the clock jumped) happens once,
then the schedule continues from now: no catch-up storm.

The clock is injectable (`scheduler.clock`, then `scheduler.wake()`), so tests move time instead
of waiting for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from croniter import CroniterBadDateError, croniter

from ..context import SystemContext
from ..errors import DatabaseUnavailable, InvalidInput, NotFound, OwnedElsewhere
from ..config.filters import matches_metadata
from ..models import RUN_OPTIONS, Cron, new_id, now
from .options import check_run_options

if TYPE_CHECKING:
    from ..operations import Operations

log = logging.getLogger("switchboard.crons")

RUN_PAYLOAD_KEYS = frozenset((*RUN_OPTIONS, "multitask_strategy"))
"""What of a cron's `payload` each firing passes on as the run's options. The payload is, as on the
reference, the request as given (`schedule`, `metadata`, ...) with `assistant_id` and
`config.configurable.cron_id` added; the cron's own fields are not run options."""


def reference_payload(cron_id: str, assistant_id: str, given: dict[str, Any]) -> dict[str, Any]:
    """A cron's `payload` as the reference stores it: the request's fields, the cron's `assistant_id`,
    and its id in `config.configurable.cron_id` (so each run's config names its cron)."""
    payload = {k: v for k, v in given.items() if v is not None}
    config = dict(payload.get("config") or {})
    config["configurable"] = {**(config.get("configurable") or {}), "cron_id": cron_id}
    return {**payload, "assistant_id": assistant_id, "config": config}


MAX_SLEEP = 60.0
"""The scheduler re-reads the crons at least this often (seconds), whatever it was told."""

FOLLOWER_SLEEP = 1.0
"""Cluster mode: the least a process that does not fire crons waits before looking again."""

SORT_FIELDS = ("cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at")


def next_fire_time(schedule: str, tz: str | None, after: datetime) -> datetime:
    """The first time strictly after `after` that `schedule` names, in `tz` (UTC if None)."""
    zone = ZoneInfo(tz) if tz else timezone.utc
    return croniter(schedule, after.astimezone(zone)).get_next(datetime).astimezone(timezone.utc)


def check_schedule(schedule: str, tz: str | None) -> None:
    fields = schedule.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(schedule):
        raise InvalidInput(
            f"schedule: {schedule!r} is not a cron expression "
            "(5 fields: minute hour day-of-month month day-of-week; a 6th field is seconds)"
        )
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"timezone: {tz!r} is not an IANA time zone name") from None
    try:
        next_fire_time(schedule, tz, now())
    except CroniterBadDateError:  # e.g. "0 0 31 2 *": valid fields, but no date has them
        raise InvalidInput(f"schedule: {schedule!r} never fires (no date matches it)") from None


class CronScheduler:
    """Keeps crons in storage and fires them on time. Thread-safe; never blocks an actor."""

    def __init__(self, ctx: SystemContext, ops: Operations, clock: Callable[[], datetime] | None = None) -> None:
        self.ctx = ctx
        self.ops = ops
        self.clock: Callable[[], datetime] = clock or now
        self._lock = threading.RLock()
        self._wake: asyncio.Event | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self.following = False
        """Cluster mode: another process holds the cron leadership."""
        self.fired = 0
        """How many runs crons have requested (for metrics)."""

    # --- lifetime --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = self.ctx.runtime.submit(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def wake(self) -> None:
        """Make the scheduler look at the crons (and the clock) again now."""
        wake = self._wake
        if wake is not None:
            self.ctx.runtime.call_soon(wake.set)

    async def _run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            due = await self._off_the_loop(self._tick_then_next_due)
            delay = MAX_SLEEP if due is None else max(0.0, min(MAX_SLEEP, (due - self.clock()).total_seconds()))
            if self.following:  # the leader fires what is due; look again in a while (it may die)
                delay = max(delay, FOLLOWER_SLEEP)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _off_the_loop(self, fn: Callable[[], Any]) -> Any:
        """Storage calls stay off the graph loop, where every run's steps take turns (a system on
        the caller's loop keeps its records in memory and has no threads: inline there)."""
        if self.ctx.runtime.adopted:
            return fn()
        return await asyncio.to_thread(fn)

    def _tick_then_next_due(self) -> datetime | None:
        try:
            self.tick()
        except DatabaseUnavailable as exc:  # the next tick tries again
            log.warning("cron scheduler tick skipped: %s", exc)
        except Exception:  # a bad record must not stop every other cron
            log.exception("cron scheduler tick failed")
        return self.next_due()

    # --- firing ----------------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        dates = [c.next_run_date for c in self.ctx.storage.list_crons() if c.enabled and c.next_run_date]
        return min(dates) if dates else None

    def tick(self, at: datetime | None = None) -> list[concurrent.futures.Future[Any]]:
        """Fire every enabled cron due at `at` (default: the clock); return the run requests."""
        at = at or self.clock()
        fired = []
        cluster = self.ctx.cluster
        self.following = cluster is not None and not cluster.cron_leader.leads()
        if self.following:
            return fired  # cluster mode: another process fires the crons (actors/cluster/crons.py)
        with self._lock:
            for cron in self.ctx.storage.list_crons():
                if cron.enabled and cron.next_run_date is not None and cron.next_run_date <= at:
                    try:
                        future = self._fire(cron, at)
                    except Exception:  # a stored cron the scheduler cannot use: stop it, fire the others
                        log.exception("cron %s: cannot be fired; disabling it", cron.cron_id)
                        disabled = msgspec.structs.replace(cron, enabled=False, next_run_date=None, updated_at=now())
                        self.ctx.storage.put_cron(disabled)
                        continue
                    if future is not None:
                        fired.append(future)
        return fired

    def _fire(self, cron: Cron, at: datetime) -> concurrent.futures.Future[Any] | None:
        storage = self.ctx.storage
        if cron.thread_id is not None and storage.get_thread(cron.thread_id) is None:
            log.info("cron %s: thread %s is gone; deleting the cron", cron.cron_id, cron.thread_id)
            storage.delete_cron(cron.cron_id)
            return None
        following = next_fire_time(cron.schedule, cron.timezone, at)
        if cron.end_time is not None and following > cron.end_time:
            following = None  # type: ignore[assignment]
        storage.put_cron(msgspec.structs.replace(cron, next_run_date=following, updated_at=now()))
        options = {k: v for k, v in cron.payload.items() if k in RUN_PAYLOAD_KEYS}
        options["metadata"] = {**cron.metadata, "cron_id": cron.cron_id}
        if cron.user_id:  # the run is for whoever made the cron (its config's `user_id`), as on the reference
            config = dict(options.get("config") or {})
            config["configurable"] = {"user_id": cron.user_id, **(config.get("configurable") or {})}
            options["config"] = config
        if cron.thread_id is None:
            options["on_completion"] = cron.on_run_completed or "delete"
        try:
            future = self.ops.create_run(cron.thread_id, cron.assistant_id, **options)
        except OwnedElsewhere as moved:  # cluster mode: a peer owns the thread; it creates the run, as here
            self.ctx.cluster.peer_runs.create(
                moved.owner_url, cron.thread_id or "", cron.assistant_id, cron.user_id or "", options,
                here=lambda: self.ops.create_run(cron.thread_id, cron.assistant_id, **options),
            )
            self.fired += 1
            return None
        self.fired += 1
        future.add_done_callback(lambda f: self._after_request(cron, f))
        return future

    def _after_request(self, cron: Cron, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception()
        if exc is not None:  # e.g. ThreadBusy under "reject": this firing is skipped
            log.info("cron %s: run not created: %s", cron.cron_id, exc)
            return
        run = future.result()
        if cron.thread_id is None and (cron.on_run_completed or "delete") == "delete":
            done = self.ops.join_run(run.thread_id, run.run_id)
            done.add_done_callback(lambda _f: self._delete_thread(run.thread_id))

    def _delete_thread(self, thread_id: str) -> None:
        """A stateless cron's thread, once its run ended (unless `on_completion` already did it)."""
        if self.ctx.storage.get_thread(thread_id) is not None:
            self.ops.delete_thread(thread_id)

    # --- records ---------------------------------------------------------------------------------

    def create(
        self,
        assistant_id: str,
        schedule: str,
        *,
        thread_id: str | None = None,
        payload: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        timezone: str | None = None,
        end_time: datetime | None = None,
        enabled: bool | None = None,
        on_run_completed: str | None = None,
        user_id: str | None = None,
    ) -> Cron:
        """A new cron; `enabled` None is true (None: not given, so not in the `payload`)."""
        check_schedule(schedule, timezone)
        check_run_options(payload or {})
        assistant = self.ctx.resolve_assistant(assistant_id)
        cron_id = new_id()
        given = {"schedule": schedule, **(payload or {}), "metadata": metadata, "timezone": timezone,
                 "end_time": end_time.isoformat() if end_time else None, "enabled": enabled,
                 "on_run_completed": on_run_completed}
        if thread_id is not None:
            self.ops.get_thread(thread_id)
            on_run_completed = None  # only stateless crons delete their threads
        else:
            on_run_completed = on_run_completed or "delete"
        created = now()
        cron = Cron(
            cron_id=cron_id,
            assistant_id=assistant.assistant_id,
            thread_id=thread_id,
            schedule=schedule,
            timezone=timezone,
            end_time=end_time,
            enabled=enabled is not False,
            on_run_completed=on_run_completed,  # type: ignore[arg-type]
            payload=reference_payload(cron_id, assistant.assistant_id, given),
            metadata=dict(metadata or {}),
            user_id=user_id,
            created_at=created,
            updated_at=created,
        )
        cron = msgspec.structs.replace(cron, next_run_date=self._first_date(cron))
        self.ctx.storage.put_cron(cron)
        self.wake()
        return cron

    def _first_date(self, cron: Cron) -> datetime | None:
        """The schedule's next date, disabled or not (as on the reference: the scheduler skips a
        disabled cron)."""
        first = next_fire_time(cron.schedule, cron.timezone, self.clock())
        if cron.end_time is not None and first > cron.end_time:
            return None
        return first

    def get(self, cron_id: str) -> Cron:
        cron = self.ctx.storage.get_cron(cron_id)
        if cron is None:
            raise NotFound(f"Cron {cron_id} not found.")
        return cron

    def update(self, cron_id: str, *, payload: dict[str, Any] | None = None, **changes: Any) -> Cron:
        """Change a cron; `payload` entries (run options) are merged into its run options and, as on
        the reference, the changed fields are merged into its `payload` too. Re-plans the next run."""
        with self._lock:
            cron = self.get(cron_id)
            check_schedule(changes.get("schedule", cron.schedule), changes.get("timezone", cron.timezone))
            check_run_options(payload or {})
            given = {**(payload or {}), **changes}
            if isinstance(given.get("end_time"), datetime):
                given["end_time"] = given["end_time"].isoformat()
            if given:
                changes["payload"] = reference_payload(cron.cron_id, cron.assistant_id, {**cron.payload, **given})
            if "metadata" in changes:
                changes["metadata"] = {**cron.metadata, **(changes["metadata"] or {})}
            if cron.thread_id is not None:
                changes.pop("on_run_completed", None)
            cron = msgspec.structs.replace(cron, **changes, updated_at=now())
            cron = msgspec.structs.replace(cron, next_run_date=self._first_date(cron))
            self.ctx.storage.put_cron(cron)
        self.wake()
        return cron

    def delete(self, cron_id: str) -> None:
        if not self.ctx.storage.delete_cron(cron_id):
            raise NotFound(f"Cron {cron_id} not found.")
        self.wake()

    def search(
        self,
        *,
        assistant_id: str | None = None,
        thread_id: str | None = None,
        enabled: bool | None = None,
        metadata: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: str = "created_at",
        sort_order: str = "desc",
    ) -> list[Cron]:
        if sort_by not in SORT_FIELDS:
            raise InvalidInput(f"sort_by: {sort_by!r} is not one of {list(SORT_FIELDS)}")
        found = self._matching(assistant_id, thread_id, metadata, enabled)
        present = [c for c in found if getattr(c, sort_by) is not None]
        missing = [c for c in found if getattr(c, sort_by) is None]
        present.sort(key=lambda c: getattr(c, sort_by), reverse=sort_order == "desc")
        return (present + missing)[offset : offset + limit]

    def count(
        self, *, assistant_id: str | None = None, thread_id: str | None = None, metadata: dict[str, Any] | None = None
    ) -> int:
        return len(self._matching(assistant_id, thread_id, metadata, None))

    def _matching(
        self, assistant_id: str | None, thread_id: str | None, metadata: dict[str, Any] | None, enabled: bool | None
    ) -> list[Cron]:
        if assistant_id is not None and assistant_id in self.ctx.graphs.ids:
            assistant_id = self.ctx.resolve_assistant(assistant_id).assistant_id
        return [
            c
            for c in self.ctx.storage.list_crons()
            if (assistant_id is None or c.assistant_id == assistant_id)
            and (thread_id is None or c.thread_id == thread_id)
            and (enabled is None or c.enabled == enabled)
            and matches_metadata(c.metadata, metadata)
        ]
