"""A short harness run against each kind of target must pass the checker with zero violations; the
CLI writes its report and plot, and refuses bad input and non-loopback targets."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from actors import ActorSystem
from loadtest.checker import check
from loadtest.graph import GRAPH_ID, graph
from loadtest.harness import Harness, Workload, parse_mix
from loadtest.history import History
from loadtest.report import build_report
from loadtest.targets import EmbeddedTarget, HttpTarget, is_loopback, new_journal
from server.app import create_app
from server.cli import main
from tests.conftest import LiveServer

SHORT = dict(threads=6, runs_per_thread=12, steps=3, step_duration=0.01, join_prob=0.3, seed=7)


def assert_clean(history) -> None:
    violations = check(history)
    assert violations == [], "\n".join(map(str, violations))
    strategies = Counter(op.strategy for op in history.accepted())
    statuses = Counter(history.final_status.values())
    # The workload really double-texted: runs were stopped, rolled back and refused.
    assert strategies["interrupt"] and strategies["enqueue"]
    assert statuses["success"] and (statuses["interrupted"] or statuses["deleted"])
    assert any(e.event == "cancel" for e in history.steps)
    assert any(op.streamed for op in history.accepted())  # some runs were read through runs.stream


def run_harness(target, workload: Workload) -> History:
    """Drive `workload` against `target` to the end, then close the target."""

    async def go():
        try:
            return await Harness(target, workload).run()
        finally:
            await target.aclose()

    return asyncio.run(go())


def test_embedded_run_has_no_violations():
    target = EmbeddedTarget()
    history = run_harness(target, Workload(**SHORT))
    target.journal.unlink()
    assert_clean(history)
    report = build_report(history, [])
    assert report["runs_sent"] == 6 * 12
    assert report["latency"]["create"]["n"] == report["runs_sent"]
    assert report["throughput_runs_per_s"] > 0


def test_embedded_run_on_the_harness_loop_has_no_violations():
    async def go():
        target = EmbeddedTarget(on_caller_loop=True)
        try:
            return target, await Harness(target, Workload(**SHORT)).run()
        finally:
            await target.aclose()

    target, history = asyncio.run(go())
    target.journal.unlink()
    assert_clean(history)
    assert len(history.creates()) == 6 * 12


def test_http_run_open_loop_has_no_violations(monkeypatch, tmp_path):
    journal = new_journal()
    monkeypatch.setenv("SWITCHBOARD_LOADTEST_JOURNAL", str(journal))
    with ActorSystem({GRAPH_ID: graph}) as system, LiveServer(create_app(system, own_system=False)) as server:
        target = HttpTarget(server.url, journal)
        workload = Workload(**{**SHORT, "arrival": "open", "rate": 150.0, "total_runs": 70})
        history = run_harness(target, workload)
    journal.unlink()
    assert_clean(history)
    assert len(history.creates()) == 70


def test_cli_embedded_writes_report_and_plot(tmp_path, capsys):
    report, plot = tmp_path / "report.json", tmp_path / "plot.html"
    code = main([
        "loadtest", "--embedded", "--threads", "4", "--runs-per-thread", "8", "--step-duration", "0.005",
        "--mix", "enqueue=40,interrupt=30,rollback=15,reject=15", "--seed", "3", "--no-progress",
        "--report", str(report), "--plot", str(plot),
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["violations"] == [] and data["runs_sent"] == 32
    assert set(data["per_strategy"]) <= {"enqueue", "interrupt", "rollback", "reject"}
    assert "latency" in out and "throughput" in out
    page = plot.read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") == 2 and "<script" not in page


def test_cli_serve_drives_a_real_server_process(tmp_path, capsys):
    code = main(["loadtest", "--serve", "--threads", "3", "--runs-per-thread", "5", "--step-duration", "0.005", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "violations" in out

def test_http_run_with_protocol_v2_streams_has_no_violations(monkeypatch, tmp_path):
    """Runs started with `run.start` and read on the thread's v2 stream (each seq right after the
    previous one, or the op is an error) double-text beside runs.create and runs.stream."""
    journal = new_journal()
    monkeypatch.setenv("SWITCHBOARD_LOADTEST_JOURNAL", str(journal))
    with ActorSystem({GRAPH_ID: graph}) as system, LiveServer(create_app(system, own_system=False)) as server:
        target = HttpTarget(server.url, journal)
        history = run_harness(target, Workload(**{**SHORT, "v2_prob": 0.5, "stream_prob": 0.3}))
    journal.unlink()
    assert_clean(history)
    v2 = [op for op in history.accepted() if op.v2]
    assert len(v2) >= 10 and {op.strategy for op in v2} >= {"enqueue", "interrupt"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--url", "http://10.1.2.3:8123", "--journal", "j"], "not a loopback"),
        (["--url", "http://127.0.0.1:1"], "needs --journal"),
        (["--embedded", "--mix", "enqueue=50,shout=1"], "--mix"),
        (["--embedded", "--threads", "0"], "--threads"),
        (["--embedded", "--steps", "99"], "--steps"),
        (["--serve", "--storage", "postgres"], "--database-url"),
        (["--embedded", "--v2-prob", "0.5"], "--v2-prob"),
        (["--embedded", "--v2-prob", "2"], "--v2-prob"),
    ],
)
def test_cli_refuses_bad_input(argv, message, capsys):
    assert main(["loadtest", *argv, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_loopback_detection():
    assert is_loopback("http://127.0.0.1:2024") and is_loopback("http://localhost:1") and is_loopback("http://[::1]:80")
    assert not is_loopback("http://192.168.1.10:8123") and not is_loopback("http://example.com")


def test_mix_parsing():
    assert parse_mix("enqueue=50, interrupt=30") == {"enqueue": 50.0, "interrupt": 30.0}
    for bad in ("", "enqueue", "enqueue=x", "enqueue=-1", "enqueue=0"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_a_duration_bounds_the_run_by_itself():
    target = EmbeddedTarget()
    workload = Workload(threads=2, runs_per_thread=100_000, users=1, steps=1, step_duration=0.0, duration=0.3, seed=1)
    history = run_harness(target, workload)
    target.journal.unlink()
    sent = len(history.creates())
    assert 0 < sent < workload.planned_runs
    assert {op.thread for op in history.creates()} == set(history.final_done)  # one user served both threads
    assert check(history) == []


def test_cli_rechecks_a_saved_history_and_fails_on_a_violation(tmp_path, capsys):
    saved = tmp_path / "history.json"
    assert main(["loadtest", "--embedded", "--threads", "2", "--runs-per-thread", "4", "--step-duration", "0.005",
                 "--no-progress", "--history", str(saved)]) == 0
    assert main(["loadtest", "--check", str(saved)]) == 0
    # Tamper with it: an accepted run that never ended.
    history = History.from_json(saved.read_bytes())
    run = history.accepted()[0].run
    history.final_status[run] = "running"
    history.save(saved)
    capsys.readouterr()
    assert main(["loadtest", "--check", str(saved)]) == 1
    out = capsys.readouterr().out
    assert f"VIOLATION [not-terminal] thread {history.accepted()[0].thread} (runs {run})" in out
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["loadtest", "--check", str(tmp_path / "junk.json")]) == 2
