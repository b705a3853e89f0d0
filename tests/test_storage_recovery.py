"""Start-up recovery decisions, in process: storage is left as a crash leaves it (a run `running`,
the thread `busy`, runs `pending`), then an `ActorSystem` starts on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from actors import ActorSystem, Settings
from actors.models import Run, Thread, graph_assistant_id, new_id, now
from actors.runs.recovery import RESTART_ERROR
from tests.backends import backend_settings
from tests.conftest import wait_until
from tests.graphs.steps import GRAPHS


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with backend_settings("sqlite", tmp_path) as fields:
        yield Settings(idle_timeout=5.0, **fields)


def _crashed_thread(settings: Settings, *pending_strategies: str, after_seconds: float | None = None) -> tuple[str, str, list[str]]:
    """A thread whose first run completed one step and was `running` at the 'crash', with pending
    runs behind it; returns (thread_id, running run id, pending run ids)."""
    with ActorSystem(GRAPHS, settings=settings) as system:
        thread_id = system.threads.create()["thread_id"]
        first = system.runs.create(thread_id, "steps", input={"tag": "a", "delay": 0})
        system.runs.join(thread_id, first["run_id"])
        storage = system.storage
        running = Run(run_id=new_id(), thread_id=thread_id, assistant_id=graph_assistant_id("steps"), status="running")
        storage.put_run(running)
        pending = []
        for i, strategy in enumerate(pending_strategies):
            kwargs = {"input": {"tag": f"p{i}", "delay": 0}}
            if after_seconds is not None:  # a delayed run, accepted ten seconds before the crash
                kwargs["after_seconds"] = after_seconds
            run = Run(
                run_id=new_id(), thread_id=thread_id, assistant_id=graph_assistant_id("one"),
                multitask_strategy=strategy, kwargs=kwargs,  # type: ignore[arg-type]
                created_at=now() - timedelta(seconds=10),
            )
            storage.put_run(run)
            pending.append(run.run_id)
        storage.update_thread(thread_id, status="busy")
    return thread_id, running.run_id, pending


def test_running_run_becomes_error_and_pending_runs_run_in_order(settings: Settings) -> None:
    thread_id, running, pending = _crashed_thread(settings, "enqueue", "enqueue")
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.recovery.errored == [running]
        assert system.runs.get(thread_id, running)["status"] == "error"
        assert system.runs.join(thread_id, running) == {"__error__": RESTART_ERROR}
        for run_id in pending:
            system.runs.join(thread_id, run_id)
        assert system.threads.get_state(thread_id)["values"]["messages"] == ["a:0", "a:1", "a:2", "p0:0", "p1:0"]
        wait_until(lambda: system.threads.get(thread_id)["status"] == "idle")


def test_pending_interrupt_run_means_the_running_one_was_interrupted(settings: Settings) -> None:
    thread_id, running, pending = _crashed_thread(settings, "interrupt")
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.recovery.interrupted == [running]
        assert system.runs.get(thread_id, running)["status"] == "interrupted"
        system.runs.join(thread_id, pending[0])
        assert system.runs.get(thread_id, pending[0])["status"] == "success"


def test_pending_rollback_run_means_the_running_one_is_deleted(settings: Settings) -> None:
    thread_id, running, pending = _crashed_thread(settings, "rollback")
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.recovery.rolled_back == [running]
        assert system.storage.get_run(running) is None
        system.runs.join(thread_id, pending[0])
        assert system.threads.get_state(thread_id)["values"]["messages"] == ["a:0", "a:1", "a:2", "p0:0"]


def test_busy_thread_without_runs_becomes_idle(settings: Settings) -> None:
    with ActorSystem(GRAPHS, settings=settings) as system:
        system.storage.create_thread(Thread(thread_id="t-busy", status="busy"))
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.threads.get("t-busy")["status"] == "idle"


def test_pending_runs_of_a_deleted_thread_are_dropped(settings: Settings) -> None:
    with ActorSystem(GRAPHS, settings=settings) as system:
        orphan = Run(run_id=new_id(), thread_id="gone", assistant_id=graph_assistant_id("one"))
        system.storage.put_run(orphan)
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.storage.get_run(orphan.run_id) is None
        assert system.live_thread_actors() == 0


def test_a_delayed_interrupt_run_that_was_due_had_interrupted_the_running_one(settings: Settings) -> None:
    thread_id, running, pending = _crashed_thread(settings, "interrupt", after_seconds=1)
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.recovery.interrupted == [running]
        assert system.runs.get(thread_id, running)["status"] == "interrupted"
        system.runs.join(thread_id, pending[0])  # due already: it runs at once, not after another delay
        assert system.runs.get(thread_id, pending[0])["status"] == "success"


def test_a_delayed_interrupt_run_not_yet_due_had_stopped_nothing(settings: Settings) -> None:
    thread_id, running, pending = _crashed_thread(settings, "interrupt", after_seconds=3600)
    with ActorSystem(GRAPHS, settings=settings) as system:
        assert system.recovery.errored == [running]
        assert system.runs.get(thread_id, pending[0])["status"] == "pending"
