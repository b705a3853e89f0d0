"""Our group-commit checkpointer passes LangGraph's checkpointer conformance suite
(`langgraph-checkpoint-conformance`), as LangGraph's own `AsyncSqliteSaver` does on the same suite."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from actors.storage.sqlite_checkpointer import GroupCommitSqliteSaver


def _registered(tmp_path: Path):
    @checkpointer_test(name="GroupCommitSqliteSaver")
    async def group_commit_sqlite():
        saver = GroupCommitSqliteSaver(str(tmp_path / f"checkpoints-{len(list(tmp_path.iterdir()))}.db"))
        try:
            yield saver
        finally:
            saver.close()

    return group_commit_sqlite


async def test_group_commit_sqlite_saver_passes_the_base_suite(tmp_path: Path) -> None:
    report = await validate(_registered(tmp_path))
    report.print_report()
    assert report.passed_all_base()


async def test_it_passes_every_test_that_async_sqlite_saver_passes(tmp_path: Path) -> None:
    """The extended capabilities too: whatever LangGraph's own SQLite saver passes, ours passes."""

    @checkpointer_test(name="AsyncSqliteSaver")
    async def reference():
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "reference.db")) as saver:
            yield saver

    ours = await validate(_registered(tmp_path))
    theirs = await validate(reference)
    assert _passed(theirs), "the reference saver passed nothing: the suite did not run"
    assert _passed(ours) >= _passed(theirs), {cap: r.failures for cap, r in ours.results.items() if r.failures}


def _passed(report) -> set[str]:
    """Capabilities whose every test passed."""
    return {cap for cap, result in report.results.items() if result.passed}


async def test_group_commit_postgres_saver_passes_what_async_postgres_saver_passes() -> None:
    """The PostgreSQL saver (writes through the group-commit writer, folded into multi-row
    statements; latest reads on reader threads): whatever LangGraph's own `AsyncPostgresSaver`
    passes on the same database, ours passes."""
    import asyncio
    from contextlib import ExitStack

    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    from actors import Settings
    from actors.kernel.runtime import GraphLoop
    from actors.storage import open_storage
    from tests.backends import postgres_schema

    with ExitStack() as stack:
        runtime = GraphLoop(2)
        stack.callback(runtime.stop)

        @checkpointer_test(name="GroupCommitPostgresSaver")
        async def group_commit_postgres():
            url = stack.enter_context(postgres_schema())
            storage = await asyncio.to_thread(open_storage, Settings(storage="postgres", database_url=url, database_pool_size=2), runtime)
            try:
                yield storage.checkpointer
            finally:
                await asyncio.wrap_future(runtime.submit(storage.aclose()))
                await asyncio.to_thread(storage.close)

        @checkpointer_test(name="AsyncPostgresSaver")
        async def reference():
            url = stack.enter_context(postgres_schema())
            async with AsyncPostgresSaver.from_conn_string(url) as saver:
                await saver.setup()
                yield saver

        ours = await validate(group_commit_postgres)
        theirs = await validate(reference)
    assert _passed(theirs), "the reference saver passed nothing: the suite did not run"
    assert _passed(ours) >= _passed(theirs), {cap: r.failures for cap, r in ours.results.items() if r.failures}
