"""Crons in cluster mode (actors/cluster/crons.py): two real processes share the crons and each
schedule fires once, by the process holding the cron leadership; a thread cron whose thread the
other process owns has its runs created (and executed) there."""

from __future__ import annotations

import time
from pathlib import Path

from langgraph_sdk import get_sync_client

from tests.cluster_support import ClusterProcess, cluster_backends, owner_of
from tests.conftest import wait_until


def test_each_firing_happens_once_whichever_process_owns_the_thread(tmp_path: Path) -> None:
    with cluster_backends() as (database_url, redis_url):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ClusterProcess(tmp_path / "a", database_url, redis_url)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url)
        try:
            a.start()
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            # One thread owned by each process: whichever leads the crons, one thread is a peer's.
            on_a = client_a.threads.create()["thread_id"]
            client_a.runs.wait(on_a, "one", input={"tag": "own"})
            on_b = client_b.threads.create()["thread_id"]
            client_b.runs.wait(on_b, "one", input={"tag": "own"})
            assert owner_of(database_url, on_a)[0] == a.process_id(database_url)
            assert owner_of(database_url, on_b)[0] == b.process_id(database_url)

            started = time.monotonic()
            crons = [
                client_a.crons.create_for_thread(thread_id, "one", schedule="* * * * * *", input={"tag": "cron"})
                for thread_id in (on_a, on_b)
            ]
            wait_until(lambda: all(len(client_a.runs.list(t, limit=100)) >= 7 for t in (on_a, on_b)), timeout=60, interval=0.1)
            for cron in crons:
                client_a.crons.delete(cron["cron_id"])
            ticks = time.monotonic() - started + 1  # firings the schedule had (one a second)
            for thread_id in (on_a, on_b):
                runs = [r for r in client_a.runs.list(thread_id, limit=100) if r["metadata"].get("cron_id")]
                assert 6 <= len(runs) <= ticks + 1, (len(runs), ticks)  # fired by both would be ~2x
                wait_until(lambda: all(client_a.runs.get(thread_id, r["run_id"])["status"] == "success" for r in runs), timeout=30)
                owner = owner_of(database_url, thread_id)
                assert owner[1] == 1  # every cron run was created by the thread's owner: it never moved
        finally:
            a.stop()
            b.stop()
