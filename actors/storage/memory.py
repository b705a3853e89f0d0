"""In-memory storage: dicts behind one lock, LangGraph's `InMemorySaver` and `InMemoryStore`."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import msgspec
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from ..models import Assistant, Cron, Run, RunStatus, Thread, now


class RollbackableMemorySaver(InMemorySaver):
    """`InMemorySaver` plus deleting what given runs wrote (rollback)."""

    def delete_for_runs_in_thread(self, thread_id: str, run_ids: Sequence[str]) -> None:
        wanted = set(run_ids)
        namespaces = self.storage.get(thread_id, {})
        for ns, checkpoints in namespaces.items():
            doomed = []
            for checkpoint_id, (_checkpoint, metadata, _parent) in checkpoints.items():
                meta = self.serde.loads_typed(metadata)
                if meta.get("run_id") in wanted:
                    doomed.append(checkpoint_id)
            for checkpoint_id in doomed:
                del checkpoints[checkpoint_id]
                self.writes.pop((thread_id, ns, checkpoint_id), None)


class MemoryStorage:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._assistants: dict[str, Assistant] = {}
        self._threads: dict[str, Thread] = {}
        self._runs: dict[str, Run] = {}
        self._runs_by_thread: dict[str, dict[str, None]] = {}
        self._outputs: dict[str, Any] = {}
        self._crons: dict[str, Cron] = {}
        self.checkpointer = RollbackableMemorySaver()
        self.store = InMemoryStore()

    # assistants
    def put_assistant(self, assistant: Assistant) -> None:
        with self._lock:
            self._assistants[assistant.assistant_id] = assistant

    def get_assistant(self, assistant_id: str) -> Assistant | None:
        return self._assistants.get(assistant_id)

    def list_assistants(self) -> list[Assistant]:
        with self._lock:
            return list(self._assistants.values())

    def delete_assistant(self, assistant_id: str) -> bool:
        with self._lock:
            return self._assistants.pop(assistant_id, None) is not None

    # threads
    def create_thread(self, thread: Thread) -> bool:
        with self._lock:
            if thread.thread_id in self._threads:
                return False
            self._threads[thread.thread_id] = thread
            self._runs_by_thread.setdefault(thread.thread_id, {})
            return True

    def get_thread(self, thread_id: str) -> Thread | None:
        return self._threads.get(thread_id)

    def update_thread(self, thread_id: str, **changes: Any) -> Thread | None:
        with self._lock:
            thread = self._threads.get(thread_id)
            if thread is None:
                return None
            changes.setdefault("updated_at", now())
            thread = msgspec.structs.replace(thread, **changes)
            self._threads[thread_id] = thread
            return thread

    def delete_thread(self, thread_id: str) -> bool:
        with self._lock:
            for run_id in self._runs_by_thread.pop(thread_id, {}):
                self._runs.pop(run_id, None)
                self._outputs.pop(run_id, None)
            for cron in [c for c in self._crons.values() if c.thread_id == thread_id]:
                del self._crons[cron.cron_id]
            return self._threads.pop(thread_id, None) is not None

    def list_threads(self) -> list[Thread]:
        with self._lock:
            return list(self._threads.values())

    # runs
    def put_run(self, run: Run) -> None:
        with self._lock:
            self._runs[run.run_id] = run
            self._runs_by_thread.setdefault(run.thread_id, {})[run.run_id] = None

    def get_run(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def update_run(self, run_id: str, **changes: Any) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return None
            changes.setdefault("updated_at", now())
            run = msgspec.structs.replace(run, **changes)
            self._runs[run_id] = run
            return run

    def delete_run(self, run_id: str) -> bool:
        with self._lock:
            run = self._runs.pop(run_id, None)
            self._outputs.pop(run_id, None)
            if run is None:
                return False
            self._runs_by_thread.get(run.thread_id, {}).pop(run_id, None)
            return True

    def list_runs(self, thread_id: str, status: RunStatus | None = None) -> list[Run]:
        with self._lock:
            runs = [self._runs[r] for r in reversed(self._runs_by_thread.get(thread_id, {}))]
        return [r for r in runs if status is None or r.status == status]

    def set_run_output(self, run_id: str, output: Any) -> None:
        with self._lock:
            if run_id in self._runs:
                self._outputs[run_id] = output

    def get_run_output(self, run_id: str) -> Any:
        return self._outputs.get(run_id)

    # crons
    def put_cron(self, cron: Cron) -> None:
        with self._lock:
            self._crons[cron.cron_id] = cron

    def get_cron(self, cron_id: str) -> Cron | None:
        return self._crons.get(cron_id)

    def delete_cron(self, cron_id: str) -> bool:
        with self._lock:
            return self._crons.pop(cron_id, None) is not None

    def list_crons(self) -> list[Cron]:
        with self._lock:
            return list(self._crons.values())

    # checkpoints
    async def delete_checkpoints_for_runs(self, thread_id: str, run_ids: Sequence[str]) -> None:
        self.checkpointer.delete_for_runs_in_thread(thread_id, run_ids)

    async def delete_thread_checkpoints(self, thread_id: str) -> None:
        await self.checkpointer.adelete_thread(thread_id)

    def close(self) -> None:
        pass
