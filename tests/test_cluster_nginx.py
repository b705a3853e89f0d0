"""nginx with docs/deploy.md's configuration in front of switchboard: a run's SSE events come through
as they are produced (not buffered to the end), a stream can be joined again with Last-Event-ID, and
the load-test harness through nginx finds no violation. Against one process here; the cluster
behind nginx is in tests/test_cluster_e2e.py."""

from __future__ import annotations

import asyncio
import time

import httpx
from langgraph_sdk import get_sync_client

from loadtest.checker import check
from loadtest.graph import GRAPH_ID
from loadtest.harness import Harness, Workload
from loadtest.targets import HttpTarget, ServerProcess
from tests.nginx_proxy import Nginx, site_config


def test_deploy_doc_config_has_the_sse_settings():
    site = site_config()
    for setting in ("proxy_buffering off;", "proxy_http_version 1.1;", "proxy_read_timeout 1h;", "upstream switchboard {"):
        assert setting in site


def test_run_streams_through_nginx_as_it_runs():
    with ServerProcess("switchboard") as server, Nginx([server.url]) as proxy:
        client = get_sync_client(url=proxy.url, api_key=None)
        thread = client.threads.create()
        arrivals: list[float] = []
        ids: list[str] = []
        started = time.monotonic()
        for part in client.runs.stream(thread["thread_id"], GRAPH_ID, input={"steps": 4, "delay": 0.4}, stream_mode="updates"):
            if part.event == "updates":
                arrivals.append(time.monotonic() - started)
        assert len(arrivals) == 4, arrivals
        # Each step's update arrived when the step ended, not all at once when the run did.
        assert arrivals[-1] - arrivals[0] >= 0.8, arrivals

        # A resumable stream joined again through nginx with Last-Event-ID replays what came after it.
        run = client.runs.create(thread["thread_id"], GRAPH_ID, input={"steps": 3, "delay": 0.1}, stream_mode="updates", stream_resumable=True)
        url = f"{proxy.url}/threads/{thread['thread_id']}/runs/{run['run_id']}/stream"
        with httpx.stream("GET", url, timeout=30) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("id:"):
                    ids.append(line[3:].strip())
        assert len(ids) >= 3, ids
        with httpx.stream("GET", url, headers={"Last-Event-ID": ids[0]}, timeout=30) as response:
            again = [line[3:].strip() for line in response.iter_lines() if line.startswith("id:")]
        assert again == ids[1:], (ids, again)
        assert not any(level in proxy.error_log() for level in ("[error]", "[crit]", "[alert]", "[emerg]")), proxy.error_log()


def test_loadtest_through_nginx_has_no_violations():
    with ServerProcess("switchboard") as server, Nginx([server.url]) as proxy:
        target = HttpTarget(proxy.url, server.journal, name="nginx")
        workload = Workload(threads=4, runs_per_thread=10, steps=3, step_duration=0.01, join_prob=0.3, stream_prob=0.4, seed=5)

        async def go():
            try:
                return await Harness(target, workload).run()
            finally:
                await target.aclose()

        history = asyncio.run(go())
    violations = check(history)
    assert violations == [], "\n".join(map(str, violations))
    assert any(op.streamed for op in history.accepted())
