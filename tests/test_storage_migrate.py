"""`switchboard migrate`: a user outgrowing SQLite moves everything to PostgreSQL (real servers of
both), and a system on the new backend carries on where the old one stopped."""

from __future__ import annotations

from pathlib import Path

from actors import ActorSystem, Settings
from server.cli import main
from tests.backends import backend_settings
from tests.graphs.steps import GRAPHS
from tests.helpers import inp


def _snapshot(system: ActorSystem, thread_ids: list[str]) -> dict:
    out = {}
    for tid in thread_ids:
        runs = system.runs.list(tid, limit=100)
        out[tid] = {
            "thread": {k: system.threads.get(tid)[k] for k in ("metadata", "status", "values", "interrupts")},
            "runs": [(r["run_id"], r["status"]) for r in runs],
            "outputs": [system.runs.join(tid, r["run_id"]) for r in runs],
            "state": system.threads.get_state(tid)["values"],
            "history": [h["checkpoint"]["checkpoint_id"] for h in system.threads.get_history(tid, limit=100)],
        }
    return out


def test_migrate_sqlite_to_postgres_keeps_records_checkpoints_and_store(tmp_path: Path, capsys) -> None:
    with backend_settings("sqlite", tmp_path) as sqlite, backend_settings("postgres", tmp_path) as postgres:
        with ActorSystem(GRAPHS, settings=Settings(**sqlite)) as old:
            done = old.threads.create(metadata={"user": "ada"})["thread_id"]
            old.runs.wait(done, "steps", input={"messages": [], **inp("a")})
            old.runs.wait(done, "one", input=inp("b"))
            paused = old.threads.create()["thread_id"]
            old.runs.wait(paused, "hitl", input={"messages": []})
            assistant = old.assistants.create("steps", metadata={"team": "x"}, name="custom")
            old.runtime.call(old.storage.store.aput(("docs", "ada"), "note", {"text": "kept"}))
            before = _snapshot(old, [done, paused])

        assert main(["migrate", "--from-data-dir", sqlite["data_dir"], "--to-database-url", postgres["database_url"]]) == 0
        assert "checkpoints" in capsys.readouterr().out

        with ActorSystem(GRAPHS, settings=Settings(**postgres)) as new:
            assert _snapshot(new, [done, paused]) == before
            assert new.assistants.get(assistant["assistant_id"])["metadata"] == {"team": "x"}
            item = new.runtime.call(new.storage.store.aget(("docs", "ada"), "note"))
            assert item is not None and item.value == {"text": "kept"}
            # the paused thread resumes on the new backend, the finished one takes a new run
            assert new.runs.wait(paused, "hitl", command={"resume": "yes"})["messages"] == ["answer:yes"]
            assert new.runs.wait(done, "one", input=inp("c"))["messages"][-1] == "c:0"

        # a second copy into the now non-empty database is refused
        assert main(["migrate", "--from-data-dir", sqlite["data_dir"], "--to-database-url", postgres["database_url"]]) == 2
        assert "empty" in capsys.readouterr().err


def test_migrate_refuses_a_missing_source(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing-here"
    assert main(["migrate", "--from-data-dir", str(missing), "--to-data-dir", str(tmp_path / "new")]) == 2
    assert "nothing-here" in capsys.readouterr().err
