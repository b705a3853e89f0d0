"""The harness spreads its traffic over several servers that are one (`--url A --url B`, or
`--serve --processes N`): every request goes to the next server, so one thread's runs, joins and
reads cross servers, and the checker sees them as one. Two HTTP servers on one actor system stand
for a cluster here; tests/test_cluster_e2e.py drives real processes."""

from __future__ import annotations

from actors import ActorSystem
from loadtest.graph import GRAPH_ID, graph
from loadtest.harness import Workload
from loadtest.spread import SpreadTarget
from loadtest.targets import HttpTarget, new_journal
from server.app import create_app
from server.cli import main
from tests.conftest import LiveServer
from tests.test_loadtest import SHORT, assert_clean, run_harness


class Counted:
    """An ASGI app that counts the HTTP requests it passes on."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


def test_spread_over_two_urls_has_no_violations_and_uses_both(monkeypatch):
    journal = new_journal()
    monkeypatch.setenv("SWITCHBOARD_LOADTEST_JOURNAL", str(journal))
    with ActorSystem({GRAPH_ID: graph}) as system:
        first, second = Counted(create_app(system, own_system=False)), Counted(create_app(system, own_system=False))
        with LiveServer(first) as a, LiveServer(second) as b:
            target = SpreadTarget([HttpTarget(a.url, journal), HttpTarget(b.url, journal)])
            history = run_harness(target, Workload(**{**SHORT, "v2_prob": 0.2}))
    journal.unlink()
    assert_clean(history)
    total = first.requests + second.requests
    assert first.requests > total / 3 and second.requests > total / 3, (first.requests, second.requests)


def test_cli_accepts_several_urls(monkeypatch, capsys):
    journal = new_journal()
    monkeypatch.setenv("SWITCHBOARD_LOADTEST_JOURNAL", str(journal))
    with ActorSystem({GRAPH_ID: graph}) as system:
        with LiveServer(create_app(system, own_system=False)) as a, LiveServer(create_app(system, own_system=False)) as b:
            code = main([
                "loadtest", "--url", a.url, "--url", b.url, "--journal", str(journal), "--threads", "3",
                "--runs-per-thread", "6", "--step-duration", "0.005", "--no-progress",
            ])
    out = capsys.readouterr().out
    journal.unlink()
    assert code == 0, out
    assert "violations" in out


def test_cli_refuses_processes_without_a_cluster(capsys):
    assert main(["loadtest", "--serve", "--processes", "2", "--no-progress"]) == 2
    assert "--storage postgres" in capsys.readouterr().err
    assert main(["loadtest", "--serve", "--storage", "postgres", "--database-url", "postgresql://x/y",
                 "--processes", "2", "--no-progress"]) == 2
    assert "--redis-url" in capsys.readouterr().err
    assert main(["loadtest", "--embedded", "--processes", "2", "--no-progress"]) == 2
    assert "go with --serve" in capsys.readouterr().err
    assert main(["loadtest", "--url", "http://127.0.0.1:1", "--url", "http://10.0.0.1:1", "--journal", "j", "--no-progress"]) == 2
    assert "10.0.0.1" in capsys.readouterr().err
