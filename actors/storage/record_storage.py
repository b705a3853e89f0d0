"""`RecordStorage`: the `Storage` methods, written once over a `RecordTable` (see records.py).

Backends differ only in their table, their LangGraph checkpointer and store, and how they delete
checkpoints (`Checkpoints`); everything a thread actor or an HTTP handler calls is here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from ..models import Assistant, Cron, Run, RunStatus, Thread, now
from .records import CachedRecords, Kind, RecentRecords, Records, RecordTable


class RunOutput(msgspec.Struct, kw_only=True):
    """A run's final output (what `join` returns), kept apart from the run record."""

    run_id: str
    thread_id: str
    output: Any = None


ASSISTANTS = Kind("assistant", Assistant, key=lambda a: a.assistant_id)
ASSISTANT_VERSIONS = Kind(
    "assistant_version", Assistant, key=lambda a: f"{a.assistant_id}:{a.version}", parent=lambda a: a.assistant_id
)
THREADS = Kind("thread", Thread, key=lambda t: t.thread_id, status=lambda t: t.status)
RUNS = Kind("run", Run, key=lambda r: r.run_id, parent=lambda r: r.thread_id, status=lambda r: r.status)
RUN_OUTPUTS = Kind("run_output", RunOutput, key=lambda o: o.run_id, parent=lambda o: o.thread_id)
CRONS = Kind(
    "cron", Cron, key=lambda c: c.cron_id, parent=lambda c: c.thread_id, status=lambda c: "enabled" if c.enabled else "disabled"
)


class Checkpoints(Protocol):
    """The backend-specific part: deleting from the backend's LangGraph checkpointer."""

    async def delete_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None: ...


class RecordStorage:
    """Storage over one `RecordTable`, plus a LangGraph checkpointer and store."""

    backend = "records"

    def __init__(
        self, table: RecordTable, checkpointer: Any, store: Any, checkpoints: Checkpoints, *, sole_writer: bool = False
    ) -> None:
        """`sole_writer`: no other process writes this table, so assistants may be cached (records.py)."""
        self.table = table
        self.checkpointer = checkpointer
        self.store = store
        self._checkpoints = checkpoints
        self.assistants = (CachedRecords if sole_writer else Records)(table, ASSISTANTS)
        self.assistant_versions = Records(table, ASSISTANT_VERSIONS)
        self.threads = Records(table, THREADS)
        self.runs: Records[Run] = RecentRecords(table, RUNS) if sole_writer else Records(table, RUNS)
        self.outputs = Records(table, RUN_OUTPUTS)
        self.crons = Records(table, CRONS)
        self.health: Any = getattr(table, "health", None)
        """`StorageHealth` of a backend that can be away (a `GuardedTable`'s); None for memory."""
        self.async_closers: list[Callable[[], Awaitable[Any]]] = []
        """Closers of what lives on the graph loop (connections, pools); `aclose` runs them there."""

    # assistants
    def put_assistant(self, assistant: Assistant) -> None:
        self.assistants.put(assistant)

    def get_assistant(self, assistant_id: str) -> Assistant | None:
        return self.assistants.get(assistant_id)

    def list_assistants(self) -> list[Assistant]:
        return self.assistants.scan()

    def delete_assistant(self, assistant_id: str) -> bool:
        self.assistant_versions.delete_children(assistant_id)
        return self.assistants.delete(assistant_id)

    def put_assistant_version(self, assistant: Assistant) -> None:
        self.assistant_versions.put(assistant)

    def list_assistant_versions(self, assistant_id: str) -> list[Assistant]:
        return self.assistant_versions.scan(parent=assistant_id)

    # threads
    def create_thread(self, thread: Thread) -> bool:
        return self.threads.insert(thread)

    def get_thread(self, thread_id: str) -> Thread | None:
        return self.threads.get(thread_id)

    def update_thread(self, thread_id: str, **changes: Any) -> Thread | None:
        changes.setdefault("updated_at", now())
        return self.threads.update(thread_id, **changes)

    def delete_thread(self, thread_id: str) -> bool:
        # Children first: a crash half-way leaves a thread with fewer runs, never runs without a thread
        # (recovery also drops pending runs whose thread is gone).
        self.runs.delete_children(thread_id)
        self.outputs.delete_children(thread_id)
        self.crons.delete_children(thread_id)
        return self.threads.delete(thread_id)

    def list_threads(self, status: str | None = None) -> list[Thread]:
        return self.threads.scan(status=status)

    # runs
    def put_run(self, run: Run) -> None:
        self.runs.put(run)

    def get_run(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def update_run(self, run_id: str, **changes: Any) -> Run | None:
        changes.setdefault("updated_at", now())
        return self.runs.update(run_id, **changes)

    def delete_run(self, run_id: str) -> bool:
        self.outputs.delete(run_id)
        return self.runs.delete(run_id)

    def list_runs(self, thread_id: str, status: RunStatus | None = None) -> list[Run]:
        """Newest first (in the order the thread actor accepted them)."""
        return self.runs.scan(parent=thread_id, status=status, newest_first=True)

    def runs_with_status(self, status: RunStatus) -> list[Run]:
        """Runs of every thread with this status, oldest first (start-up recovery)."""
        return self.runs.scan(status=status)

    # A run's progress as its thread actor records it. The actor is the only writer of its thread's
    # record and runs once they exist, so it writes whole records as it knows them (no read first),
    # and each step is one transaction: one commit to wait for.
    def put_thread(self, thread: Thread) -> None:
        self.threads.put(thread)

    def accept_run(self, run: Run, thread: Thread | None = None) -> None:
        """Store a new run and, in the same transaction, its thread's record if given (its graph)."""
        self._batch([self.runs.put_write(run), *([self.threads.put_write(thread)] if thread else [])], [run])

    def start_run(self, run: Run, thread: Thread | None) -> None:
        """The run, now `running`, and its thread, now `busy`, together."""
        self._batch([self.runs.put_write(run), *([self.threads.put_write(thread)] if thread else [])], [run])

    def _batch(self, writes: list[Any], runs: list[Run]) -> None:
        """`writes` in one transaction; `runs` are among them (remembered once committed)."""
        if not isinstance(self.runs, RecentRecords):
            self.table.batch(writes)
            return
        self.runs.forget(*(run.run_id for run in runs))
        self.table.batch(writes)
        for run in runs:
            self.runs.written(run)

    def end_run(self, run: Run, output: Any, thread: Thread | None = None, starting: Run | None = None) -> None:
        """The run's output and its record with its terminal status, its thread's record (values,
        status) and the record of the run `starting` next (`running`) if given, together: a crash
        leaves all of them or none (then the run is still non-terminal, and start-up recovery ends it)."""
        output_record = RunOutput(run_id=run.run_id, thread_id=run.thread_id, output=output)
        writes = [self.outputs.put_write(output_record), self.runs.put_write(run)]
        if thread is not None:
            writes.insert(0, self.threads.put_write(thread))
        if starting is not None:
            writes.append(self.runs.put_write(starting))
        self._batch(writes, [run, *([starting] if starting is not None else [])])

    def set_run_output(self, run_id: str, output: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            self.outputs.put(RunOutput(run_id=run_id, thread_id=run.thread_id, output=output))

    def get_run_output(self, run_id: str) -> Any:
        found = self.outputs.get(run_id)
        return None if found is None else found.output

    # crons (written by the cron scheduler only)
    def put_cron(self, cron: Cron) -> None:
        self.crons.put(cron)

    def get_cron(self, cron_id: str) -> Cron | None:
        return self.crons.get(cron_id)

    def delete_cron(self, cron_id: str) -> bool:
        return self.crons.delete(cron_id)

    def list_crons(self) -> list[Cron]:
        return self.crons.scan()

    # checkpoints (on the graph loop)
    async def delete_checkpoints_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self._checkpoints.delete_for_runs(thread_id, run_ids)

    async def delete_thread_checkpoints(self, thread_id: str) -> None:
        await self.checkpointer.adelete_thread(thread_id)

    async def aclose(self) -> None:
        """Close the graph-loop resources (run on the graph loop, before it stops)."""
        for closer in reversed(self.async_closers):
            await closer()
        self.async_closers.clear()

    def close(self) -> None:
        self.table.close()
