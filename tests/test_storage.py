"""The storage behaviour suite: every `Storage` method, on every backend (memory, SQLite, PostgreSQL).

A new storage method gets a test here and is thereby tested on all three backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from actors import Settings
from actors.models import Assistant, Cron, Run, Thread, new_id
from actors.kernel.runtime import GraphLoop
from actors.storage import RecordStorage, StorageUnavailable, open_storage
from tests.backends import BACKENDS, DURABLE_BACKENDS, backend_settings
from tests.graphs.steps import async_graph


@pytest.fixture(scope="module")
def runtime() -> Iterator[GraphLoop]:
    loop = GraphLoop(4)
    yield loop
    loop.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict]:
    with backend_settings(request.param, tmp_path) as settings:
        yield settings


@pytest.fixture(params=DURABLE_BACKENDS)
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict]:
    with backend_settings(request.param, tmp_path) as settings:
        yield settings


def _open(settings: dict, runtime: GraphLoop) -> RecordStorage:
    return open_storage(Settings(**settings), runtime)


@pytest.fixture
def storage(backend: dict, runtime: GraphLoop) -> Iterator[RecordStorage]:
    store = _open(backend, runtime)
    yield store
    runtime.call(store.aclose())
    store.close()


def _thread(**kw) -> Thread:
    return Thread(thread_id=new_id(), **kw)


def _run(thread_id: str, **kw) -> Run:
    return Run(run_id=new_id(), thread_id=thread_id, assistant_id="a", **kw)


def test_assistants_put_get_list_delete(storage: RecordStorage) -> None:
    a = Assistant(assistant_id="a1", graph_id="g", name="one", config={"configurable": {"x": 1}})
    storage.put_assistant(a)
    storage.put_assistant(msgspec.structs.replace(a, name="renamed"))
    assert storage.get_assistant("a1") == msgspec.structs.replace(a, name="renamed")
    assert [x.assistant_id for x in storage.list_assistants()] == ["a1"]
    assert storage.delete_assistant("a1") is True
    assert storage.delete_assistant("a1") is False
    assert storage.get_assistant("a1") is None


def test_assistant_reads_are_remembered_and_every_write_forgets_them(tmp_path: Path) -> None:
    """`CachedRecords` (assistants on a backend this process writes alone): a second read - or a
    second miss - does not reach the table; every kind of write, and a read that raced with a write,
    leaves nothing stale behind."""
    from actors.storage.memory import MemoryTable
    from actors.storage.record_storage import ASSISTANTS
    from actors.storage.records import CachedRecords

    table = MemoryTable()
    reads: list[str] = []
    get = table.get
    table.get = lambda kind, key: (reads.append(key), get(kind, key))[1]  # type: ignore[method-assign]
    assistants = CachedRecords(table, ASSISTANTS)
    a = Assistant(assistant_id="a1", graph_id="g", name="one")
    assert assistants.get("a1") is None and assistants.get("a1") is None  # a miss, remembered
    assert reads == ["a1"]
    assistants.put(a)
    assert assistants.get("a1") == a and assistants.get("a1") == a
    assert reads == ["a1", "a1"]
    assistants.update("a1", name="two")
    assert assistants.get("a1").name == "two"
    assert assistants.delete("a1") is True
    assert assistants.get("a1") is None
    assert len(reads) == 4
    # A read that started before a write and ended after it is not remembered.
    assistants.put(a)
    def old_then_write(kind: str, key: str) -> bytes | None:
        data = get(kind, key)  # the old record, read just before another caller's write
        assistants.put(msgspec.structs.replace(a, name="newer"))
        return data

    table.get = old_then_write  # type: ignore[method-assign]
    assert assistants.get("a1").name == "one"
    table.get = get  # type: ignore[method-assign]
    assert assistants.get("a1").name == "newer"
    with pytest.raises(TypeError):  # a batch write would bypass the cache
        assistants.put_write(a)


def test_runs_this_process_wrote_are_read_back_without_the_table(tmp_path: Path) -> None:
    """`RecentRecords` (runs, on a backend this process writes alone): what was committed is read
    back as written; a delete or a failed write forgets it; reads never fill it; bounded."""
    from actors.storage.memory import MemoryTable
    from actors.storage.record_storage import RUNS
    from actors.storage.records import RecentRecords

    table = MemoryTable()
    reads: list[str] = []
    get = table.get
    table.get = lambda kind, key: (reads.append(key), get(kind, key))[1]  # type: ignore[method-assign]
    runs = RecentRecords(table, RUNS, size=2)
    run = _run("t1")
    runs.put(run)
    assert runs.get(run.run_id) == run and reads == []
    running = msgspec.structs.replace(run, status="running")
    table.batch([runs.put_write(running)])
    runs.written(running)
    assert runs.get(run.run_id) == running and reads == []
    assert runs.update(run.run_id, status="success").status == "success"
    assert runs.get(run.run_id).status == "success" and reads == []
    # A write that failed: its outcome is unknown, so the next read asks the table.
    upsert = table.upsert
    table.upsert = lambda *a: (_ for _ in ()).throw(OSError("disk full"))  # type: ignore[method-assign]
    with pytest.raises(OSError):
        runs.put(msgspec.structs.replace(run, status="error"))
    table.upsert = upsert  # type: ignore[method-assign]
    assert runs.get(run.run_id).status == "success" and reads == [run.run_id]
    assert runs.get(run.run_id) is not None and len(reads) == 2  # that read did not fill it
    others = [_run("t1"), _run("t1")]
    for other in others:
        runs.put(other)
    assert runs.get(others[0].run_id) == others[0] and runs.get(others[1].run_id) == others[1] and len(reads) == 2
    assert runs.delete(others[0].run_id) is True
    assert runs.get(others[0].run_id) is None and len(reads) == 3


def test_assistant_versions_are_kept_per_assistant_and_deleted_with_it(storage: RecordStorage) -> None:
    v1 = Assistant(assistant_id="a2", graph_id="g", name="v1")
    v2 = msgspec.structs.replace(v1, name="v2", version=2)
    other = Assistant(assistant_id="a3", graph_id="g", name="other")
    for record in (v1, v2, other):
        storage.put_assistant_version(record)
    storage.put_assistant_version(msgspec.structs.replace(v2, name="v2 again"))  # same version: replaced
    assert sorted((v.version, v.name) for v in storage.list_assistant_versions("a2")) == [(1, "v1"), (2, "v2 again")]
    storage.put_assistant(v2)
    storage.delete_assistant("a2")
    assert storage.list_assistant_versions("a2") == []
    assert [v.name for v in storage.list_assistant_versions("a3")] == ["other"]


def test_create_thread_inserts_once(storage: RecordStorage) -> None:
    thread = _thread(metadata={"user": "u"})
    assert storage.create_thread(thread) is True
    assert storage.create_thread(msgspec.structs.replace(thread, metadata={})) is False
    assert storage.get_thread(thread.thread_id) == thread


def test_update_thread_changes_fields_and_filters_by_status(storage: RecordStorage) -> None:
    a, b = _thread(), _thread()
    storage.create_thread(a)
    storage.create_thread(b)
    updated = storage.update_thread(a.thread_id, status="busy", values={"messages": ["x"]})
    assert updated is not None and updated.status == "busy" and updated.updated_at >= a.updated_at
    assert storage.get_thread(a.thread_id) == updated
    assert [t.thread_id for t in storage.list_threads(status="busy")] == [a.thread_id]
    assert {t.thread_id for t in storage.list_threads()} == {a.thread_id, b.thread_id}
    assert storage.update_thread("missing", status="idle") is None


def test_runs_list_newest_first_in_acceptance_order(storage: RecordStorage) -> None:
    thread = _thread()
    storage.create_thread(thread)
    # ids in reverse of acceptance order: storage order must not depend on id order
    ids = sorted((new_id() for _ in range(5)), reverse=True)
    for run_id in ids:
        storage.put_run(Run(run_id=run_id, thread_id=thread.thread_id, assistant_id="a"))
    assert [r.run_id for r in storage.list_runs(thread.thread_id)] == list(reversed(ids))
    storage.update_run(ids[0], status="running")  # an update keeps the run's place
    storage.put_run(msgspec.structs.replace(storage.get_run(ids[1]), status="success"))
    assert [r.run_id for r in storage.list_runs(thread.thread_id)] == list(reversed(ids))
    assert [r.run_id for r in storage.list_runs(thread.thread_id, status="pending")] == list(reversed(ids[2:]))
    assert storage.get_run(ids[0]).status == "running"


def test_runs_with_status_spans_threads_oldest_first(storage: RecordStorage) -> None:
    t1, t2 = _thread(), _thread()
    storage.create_thread(t1)
    storage.create_thread(t2)
    runs = [_run(t1.thread_id), _run(t2.thread_id), _run(t1.thread_id, status="success")]
    for run in runs:
        storage.put_run(run)
    assert [r.run_id for r in storage.runs_with_status("pending")] == [runs[0].run_id, runs[1].run_id]
    assert storage.update_run("missing", status="error") is None


def test_run_output_and_deletion(storage: RecordStorage) -> None:
    thread = _thread()
    storage.create_thread(thread)
    run = _run(thread.thread_id)
    storage.put_run(run)
    storage.set_run_output(run.run_id, {"messages": ["a", "b"], "n": 1})
    assert storage.get_run_output(run.run_id) == {"messages": ["a", "b"], "n": 1}
    storage.set_run_output("missing", {"x": 1})  # output of an unknown run is dropped
    assert storage.get_run_output("missing") is None
    assert storage.delete_run(run.run_id) is True
    assert storage.get_run_output(run.run_id) is None
    assert storage.delete_run(run.run_id) is False


def test_a_runs_progress_is_written_one_transaction_per_step(storage: RecordStorage) -> None:
    """accept_run / start_run / end_run: what a thread actor records when it takes, starts and ends
    a run, each step one transaction of whole records."""
    thread = _thread()
    storage.create_thread(thread)
    run = _run(thread.thread_id)
    remembered = msgspec.structs.replace(thread, metadata={"graph_id": "g"})
    storage.accept_run(run, remembered)
    assert storage.get_run(run.run_id) == run and storage.get_thread(thread.thread_id) == remembered
    running, busy = msgspec.structs.replace(run, status="running"), msgspec.structs.replace(remembered, status="busy")
    storage.start_run(running, busy)
    assert storage.get_run(run.run_id) == running and storage.get_thread(thread.thread_id) == busy
    assert [t.thread_id for t in storage.list_threads(status="busy")] == [thread.thread_id]
    ended, idle = msgspec.structs.replace(run, status="success"), msgspec.structs.replace(busy, status="idle", values={"n": 1})
    storage.end_run(ended, {"n": 1}, idle)
    assert storage.get_run(run.run_id) == ended and storage.get_run_output(run.run_id) == {"n": 1}
    assert storage.get_thread(thread.thread_id) == idle
    assert [r.run_id for r in storage.list_runs(thread.thread_id, status="success")] == [run.run_id]
    # a run's end and its successor's start, together
    successor = _run(thread.thread_id)
    storage.accept_run(successor)
    storage.end_run(msgspec.structs.replace(running, status="interrupted"), None, busy, msgspec.structs.replace(successor, status="running"))
    assert storage.get_run(run.run_id).status == "interrupted" and storage.get_run(successor.run_id).status == "running"


def test_a_batch_is_all_or_none(storage: RecordStorage) -> None:
    thread = _thread()
    storage.create_thread(thread)
    run = _run(thread.thread_id)

    def broken(_data: bytes) -> tuple[bytes, str | None, str | None]:
        raise ValueError("cannot change this record")

    writes = [storage.runs.put_write(run), ("update", ("thread", thread.thread_id, broken))]
    with pytest.raises(ValueError):
        storage.table.batch(writes)
    if storage.backend != "memory":  # memory storage keeps nothing across a crash: it needs no atomicity
        assert storage.get_run(run.run_id) is None
    assert storage.get_thread(thread.thread_id) == thread


def test_a_batch_of_upserts_lands_in_order_and_keeps_list_order(storage: RecordStorage) -> None:
    """A run's start and end are batches of upserts only (SQLite sends them as one statement): a key
    given twice ends with its last record, and a replaced record keeps its place in list order."""
    thread = _thread()
    storage.create_thread(thread)
    first, second = _run(thread.thread_id), _run(thread.thread_id)
    storage.table.batch([storage.runs.put_write(first), storage.runs.put_write(second)])
    running = msgspec.structs.replace(first, status="running")
    done = msgspec.structs.replace(first, status="success")
    busy = msgspec.structs.replace(thread, status="busy")
    assert storage.table.batch([storage.runs.put_write(running), storage.threads.put_write(busy), storage.runs.put_write(done)]) == [None] * 3
    assert storage.get_run(first.run_id) == done
    assert storage.get_thread(thread.thread_id) == busy
    assert [r.run_id for r in storage.list_runs(thread.thread_id)] == [second.run_id, first.run_id]


def test_delete_thread_takes_its_runs_and_outputs(storage: RecordStorage) -> None:
    keep, doomed = _thread(), _thread()
    storage.create_thread(keep)
    storage.create_thread(doomed)
    kept, gone = _run(keep.thread_id), _run(doomed.thread_id)
    for run in (kept, gone):
        storage.put_run(run)
        storage.set_run_output(run.run_id, "out")
    assert storage.delete_thread(doomed.thread_id) is True
    assert storage.get_thread(doomed.thread_id) is None
    assert storage.get_run(gone.run_id) is None and storage.get_run_output(gone.run_id) is None
    assert storage.list_runs(doomed.thread_id) == []
    assert storage.get_run(kept.run_id) == kept and storage.get_run_output(kept.run_id) == "out"
    assert storage.delete_thread(doomed.thread_id) is False


def test_crons_put_get_list_delete_and_go_with_their_thread(storage: RecordStorage) -> None:
    thread = _thread()
    storage.create_thread(thread)
    on_thread = Cron(cron_id="c1", assistant_id="a", thread_id=thread.thread_id, schedule="* * * * *")
    stateless = Cron(cron_id="c2", assistant_id="a", schedule="0 * * * *", payload={"input": {"x": 1}})
    storage.put_cron(on_thread)
    storage.put_cron(stateless)
    storage.put_cron(msgspec.structs.replace(stateless, enabled=False))
    assert storage.get_cron("c2") == msgspec.structs.replace(stateless, enabled=False)
    assert [c.cron_id for c in storage.list_crons()] == ["c1", "c2"]
    storage.delete_thread(thread.thread_id)
    assert storage.get_cron("c1") is None
    assert storage.delete_cron("c2") is True and storage.delete_cron("c2") is False
    assert storage.list_crons() == []


def test_delete_checkpoints_for_runs_rolls_state_back(storage: RecordStorage, runtime: GraphLoop) -> None:
    graph = async_graph.copy(update={"checkpointer": storage.checkpointer, "store": storage.store})
    thread_id = new_id()

    def run(run_id: str, tag: str) -> None:
        config = {"configurable": {"thread_id": thread_id}, "metadata": {"run_id": run_id}}
        runtime.call(graph.ainvoke({"tag": tag, "delay": 0.0}, config))

    def messages() -> list[str]:
        state = runtime.call(graph.aget_state({"configurable": {"thread_id": thread_id}}))
        return state.values.get("messages", [])

    run("r1", "a")
    run("r2", "b")
    assert messages() == ["a:0", "a:1", "a:2", "b:0", "b:1", "b:2"]
    runtime.call(storage.delete_checkpoints_for_runs(thread_id, ["r2"]))
    assert messages() == ["a:0", "a:1", "a:2"]
    runtime.call(storage.delete_thread_checkpoints(thread_id))
    assert messages() == []


def test_store_put_get(storage: RecordStorage, runtime: GraphLoop) -> None:
    runtime.call(storage.store.aput(("users", "u1"), "prefs", {"lang": "en"}))
    item = runtime.call(storage.store.aget(("users", "u1"), "prefs"))
    assert item is not None and item.value == {"lang": "en"}


def test_everything_survives_reopening(durable_backend: dict, runtime: GraphLoop) -> None:
    backend = durable_backend
    first = _open(backend, runtime)
    thread = _thread(metadata={"k": "v"})
    first.create_thread(thread)
    run = _run(thread.thread_id)
    first.put_run(run)
    first.set_run_output(run.run_id, [1, 2])
    graph = async_graph.copy(update={"checkpointer": first.checkpointer})
    config = {"configurable": {"thread_id": thread.thread_id}, "metadata": {"run_id": run.run_id}}
    runtime.call(graph.ainvoke({"tag": "a", "delay": 0.0}, config))
    runtime.call(first.store.aput(("ns",), "k", {"v": 1}))
    runtime.call(first.aclose())
    first.close()

    again = _open(backend, runtime)  # migrations are applied once: reopening is a no-op
    try:
        assert again.table.schema_version() == 1  # type: ignore[attr-defined]
        assert again.get_thread(thread.thread_id) == thread
        assert again.get_run(run.run_id) == run and again.get_run_output(run.run_id) == [1, 2]
        graph = async_graph.copy(update={"checkpointer": again.checkpointer})
        state = runtime.call(graph.aget_state({"configurable": {"thread_id": thread.thread_id}}))
        assert state.values["messages"] == ["a:0", "a:1", "a:2"]
        assert runtime.call(again.store.aget(("ns",), "k")).value == {"v": 1}
    finally:
        runtime.call(again.aclose())
        again.close()


def test_durable_storage_is_held_by_one_process_at_a_time(durable_backend: dict, runtime: GraphLoop) -> None:
    settings = durable_backend
    first = _open(settings, runtime)
    with pytest.raises(StorageUnavailable, match="in use by another switchboard"):
        _open(settings, runtime)
    runtime.call(first.aclose())
    first.close()
    second = _open(settings, runtime)  # released on close (and by the OS if the process dies)
    runtime.call(second.aclose())
    second.close()


def test_serve_refuses_postgres_without_a_url_and_a_held_data_dir(tmp_path: Path, runtime: GraphLoop, capsys) -> None:
    from server.cli import main

    assert main(["serve", "--storage", "postgres"]) == 2
    assert "--database-url" in capsys.readouterr().err
    held = _open({"storage": "sqlite", "data_dir": str(tmp_path)}, runtime)
    try:
        args = ["serve", "--config", str(tmp_path / "langgraph.json"), "--data-dir", str(tmp_path)]
        steps = Path(__file__).parent / "graphs" / "steps.py"
        (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"steps": f"{steps}:async_graph"}}))
        assert main(args) == 2
        assert "in use by another switchboard process" in capsys.readouterr().err
    finally:
        runtime.call(held.aclose())
        held.close()


def test_sqlite_writes_that_find_the_connection_taken_are_committed_by_the_writer(tmp_path: Path) -> None:
    """SQLite's record writes: while one write holds the connection, the others queue for the
    group-commit writer, which commits what is queued once it gets the connection; each caller
    returns after that commit, and a failing write fails alone."""
    import threading

    from actors.storage.sqlite import SqliteTable

    table = SqliteTable(tmp_path / "records.db")
    try:
        table._lock.acquire()  # a write in progress: everybody else must go to the writer
        results: dict[int, object] = {}

        def write(i: int) -> None:
            try:
                if i == 3:  # a change that raises: only this write fails
                    table.update("thing", "k0", lambda _data: 1 / 0)
                else:
                    results[i] = table.insert("thing", f"k{i}", b"{}", None, "s")
            except ZeroDivisionError as exc:
                results[i] = exc

        writers = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for w in writers:
            w.start()
        # They wait on the writer, which waits for the connection: nothing is committed yet.
        assert all(i not in results for i in range(6))
        assert table.get("thing", "k0") is None
        table._lock.release()
        for w in writers:
            w.join(timeout=10)
        assert [results[i] for i in (0, 1, 2, 4, 5)] == [True] * 5
        assert isinstance(results[3], ZeroDivisionError)
        assert sorted(table.scan("thing")) == [b"{}"] * 5
    finally:
        table.close()
