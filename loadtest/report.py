"""What a load test measured: latency series and percentiles, throughput, per-strategy counts, errors;
printed as a rich table, written as a JSON report and as a self-contained HTML page with two SVG plots
(latency over time, and its distribution).

Latencies (all from the history, so the same for every target):
- `create`: a create request's round trip (accepted or rejected).
- `join`: a join request's round trip (it waits for the run, so it includes the run's own time).
- `join_lag`: for joins sent before the run finished (and streams), from its last step end (journal)
  to the join response (the stream's end): the server's overhead in reporting that a run is over.
- `first_event`: for runs created with `runs.stream`, from the request to the first event after
  `metadata` (the first `values`, sent when the run starts).
- `first_step`: from the create request to the run's first step start, for runs sent to an idle thread.
- `interrupt_to_successor`: from an interrupt/rollback request sent while another run was executing
  to its own first step start: how fast the old run is stopped and the new one begins.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from .checker import Violation
from .history import History, executions

METRICS = ("create", "join", "join_lag", "first_event", "first_step", "interrupt_to_successor")
COLOURS = {
    "create": "#1f77b4", "join": "#ff7f0e", "join_lag": "#2ca02c", "first_event": "#8c564b",
    "first_step": "#9467bd", "interrupt_to_successor": "#d62728",
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50) * 1000,
        "p90_ms": percentile(values, 90) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
    }


def latency_series(history: History) -> dict[str, list[tuple[float, float]]]:
    """Per metric, (time since the start, latency in seconds) points."""
    t0 = history.meta.get("started") or min((op.t_send for op in history.ops), default=0.0)
    series: dict[str, list[tuple[float, float]]] = {name: [] for name in METRICS}
    runs = executions(history.steps)
    streamed = {op.run for op in history.ops if op.streamed}
    for op in history.ops:
        if op.kind == "create" and op.result != "error":
            series["create"].append((op.t_send - t0, op.latency))
            if op.t_first_event is not None:
                series["first_event"].append((op.t_send - t0, op.t_first_event - op.t_send))
        elif op.kind == "join" and op.result == "ok":
            if op.run not in streamed:
                series["join"].append((op.t_send - t0, op.latency))
            executed = runs.get(op.run or "")
            if executed is not None and op.t_send <= executed.last <= op.t_resp:
                series["join_lag"].append((executed.last - t0, op.t_resp - executed.last))
    thread_of = {e.run: e.thread for e in history.steps}
    by_thread: dict[str, list[Any]] = {}
    for run in runs.values():
        by_thread.setdefault(thread_of[run.run], []).append(run)
    for op in history.accepted():
        executed = runs.get(op.run or "")
        if executed is None:
            continue
        others = [r for r in by_thread.get(op.thread, []) if r.run != op.run]
        busy = any(r.first < op.t_send < r.last for r in others)
        earlier_unfinished = any(r.first < op.t_send and r.last >= op.t_send for r in others)
        if op.strategy in ("interrupt", "rollback") and busy:
            series["interrupt_to_successor"].append((op.t_send - t0, executed.first - op.t_send))
        elif not earlier_unfinished and not any(op.t_send <= r.first < executed.first for r in others):
            series["first_step"].append((op.t_send - t0, executed.first - op.t_send))
    return series


def build_report(history: History, violations: list[Violation]) -> dict[str, Any]:
    series = latency_series(history)
    creates = history.creates()
    started = history.meta.get("started") or min((op.t_send for op in history.ops), default=0.0)
    ended = max(history.terminal_seen.values(), default=history.meta.get("finished", started))
    statuses = Counter(history.final_status.values())
    completed = sum(n for s, n in statuses.items() if s in ("success", "interrupted", "error", "timeout", "deleted"))
    elapsed = max(ended - started, 1e-9)
    per_strategy: dict[str, dict[str, int]] = {}
    for op in creates:
        row = per_strategy.setdefault(op.strategy or "?", {"accepted": 0, "rejected": 0, "error": 0})
        row[op.result] = row.get(op.result, 0) + 1
    errors = [f"{op.kind} {op.thread}/{op.run or '-'}: {op.detail}" for op in history.ops if op.result == "error"]
    return {
        "target": history.meta.get("target"),
        "workload": history.meta.get("workload"),
        "elapsed_s": elapsed,
        "runs_sent": len(creates),
        "runs_accepted": len(history.accepted()),
        "runs_completed": completed,
        "steps_executed": sum(1 for e in history.steps if e.event == "end"),
        "throughput_runs_per_s": completed / elapsed,
        "latency": {name: summarize([v for _, v in points]) for name, points in series.items()},
        "per_strategy": per_strategy,
        "final_status": dict(statuses),
        "errors": {"count": len(errors), "first": errors[:10]},
        "violations": [msgspec.to_builtins(v) for v in violations],
        "drain_timed_out": bool(history.meta.get("drain_timed_out")),
        "processes": process_spread(history),
    }


def process_spread(history: History) -> dict[str, int]:
    """Which processes executed the steps (a cluster has several): how many, and how many runs and
    threads had steps in more than one."""
    by_run: dict[str, set[int]] = {}
    by_thread: dict[str, set[int]] = {}
    for e in history.steps:
        if e.pid is not None:
            by_run.setdefault(e.run, set()).add(e.pid)
            by_thread.setdefault(e.thread, set()).add(e.pid)
    return {
        "count": len(set().union(*by_run.values())) if by_run else 0,
        "threads_in_several": sum(1 for pids in by_thread.values() if len(pids) > 1),
        "runs_in_several": sum(1 for pids in by_run.values() if len(pids) > 1),
    }


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True))


def print_summary(report: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    head = Table(title=f"switchboard loadtest - target {report['target']}", show_header=False)
    head.add_row("elapsed", f"{report['elapsed_s']:.2f} s")
    head.add_row("runs sent / accepted / completed", f"{report['runs_sent']} / {report['runs_accepted']} / {report['runs_completed']}")
    head.add_row("throughput", f"{report['throughput_runs_per_s']:.1f} runs/s ({report['steps_executed']} steps)")
    head.add_row("final statuses", ", ".join(f"{k}={v}" for k, v in sorted(report["final_status"].items())) or "-")
    head.add_row("errors", str(report["errors"]["count"]))
    head.add_row("violations", str(len(report["violations"])))
    console.print(head)
    lat = Table(title="latency (ms)")
    for col in ("metric", "n", "p50", "p90", "p99", "max"):
        lat.add_column(col, justify="right" if col != "metric" else "left")
    for name, s in report["latency"].items():
        if s["n"]:
            lat.add_row(name, str(s["n"]), *(f"{s[k]:.1f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")))
        else:
            lat.add_row(name, "0", "-", "-", "-", "-")
    console.print(lat)
    strat = Table(title="per strategy")
    for col in ("strategy", "accepted", "rejected", "error"):
        strat.add_column(col, justify="right" if col != "strategy" else "left")
    for name, row in sorted(report["per_strategy"].items()):
        strat.add_row(name, str(row.get("accepted", 0)), str(row.get("rejected", 0)), str(row.get("error", 0)))
    console.print(strat)
    for line in report["errors"]["first"]:
        console.print(f"error {line}", markup=False, style="red")


# --- the HTML page -----------------------------------------------------------------------------

W, H, PAD = 760, 320, 48


def _log_scale(lo: float, hi: float, size: float, flip: bool):
    lo, hi = math.log10(max(lo, 1e-6)), math.log10(max(hi, lo * 10 if lo > 0 else 1e-5))
    span = max(hi - lo, 1e-9)

    def scale(v: float) -> float:
        x = (math.log10(max(v, 1e-6)) - lo) / span * size
        return (size - x) if flip else x

    return scale, lo, hi


def _decade_ticks(lo: float, hi: float) -> list[float]:
    return [10.0**e for e in range(math.floor(lo), math.ceil(hi) + 1)]


def _fmt_ms(v: float) -> str:
    return f"{v * 1000:g} ms" if v < 1 else f"{v:g} s"


def svg_over_time(series: dict[str, list[tuple[float, float]]]) -> str:
    points = [(t, v) for pts in series.values() for t, v in pts if v > 0]
    if not points:
        return "<p>no latencies recorded</p>"
    t_max = max(t for t, _ in points) or 1.0
    ys, lo, hi = _log_scale(min(v for _, v in points), max(v for _, v in points), H - 2 * PAD, flip=True)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-size="11" font-family="sans-serif">']
    for tick in _decade_ticks(lo, hi):
        y = PAD + ys(tick)
        if PAD - 1 <= y <= H - PAD + 1:
            out.append(f'<line x1="{PAD}" x2="{W - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/><text x="2" y="{y + 4:.1f}">{_fmt_ms(tick)}</text>')
    for name, pts in series.items():
        for t, v in pts:
            if v > 0:
                x = PAD + t / t_max * (W - 2 * PAD)
                out.append(f'<circle cx="{x:.1f}" cy="{PAD + ys(v):.1f}" r="1.6" fill="{COLOURS[name]}" fill-opacity="0.6"/>')
    out.append(f'<text x="{W / 2:.0f}" y="{H - 8}" text-anchor="middle">seconds since start (0 .. {t_max:.1f})</text>')
    out.append(_legend(series))
    out.append("</svg>")
    return "".join(out)


def svg_distribution(series: dict[str, list[tuple[float, float]]]) -> str:
    values = [v for pts in series.values() for _, v in pts if v > 0]
    if not values:
        return ""
    xs, lo, hi = _log_scale(min(values), max(values), W - 2 * PAD, flip=False)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-size="11" font-family="sans-serif">']
    for tick in _decade_ticks(lo, hi):
        x = PAD + xs(tick)
        if PAD - 1 <= x <= W - PAD + 1:
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD}" y2="{H - PAD}" stroke="#ddd"/><text x="{x:.1f}" y="{H - PAD + 14}" text-anchor="middle">{_fmt_ms(tick)}</text>')
    for q in (0.5, 0.9, 0.99):
        y = PAD + (1 - q) * (H - 2 * PAD)
        out.append(f'<line x1="{PAD}" x2="{W - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/><text x="2" y="{y + 4:.1f}">p{q * 100:g}</text>')
    for name, pts in series.items():
        ordered = sorted(v for _, v in pts if v > 0)
        if not ordered:
            continue
        coords = " ".join(
            f"{PAD + xs(v):.1f},{PAD + (1 - (i + 1) / len(ordered)) * (H - 2 * PAD):.1f}" for i, v in enumerate(ordered)
        )
        out.append(f'<polyline points="{coords}" fill="none" stroke="{COLOURS[name]}" stroke-width="1.5"/>')
    out.append(f'<text x="{W / 2:.0f}" y="{H - 8}" text-anchor="middle">latency (log scale); y: fraction of requests at or below</text>')
    out.append(_legend(series))
    out.append("</svg>")
    return "".join(out)


def _legend(series: dict[str, list[tuple[float, float]]]) -> str:
    items = []
    x = PAD
    for name, pts in series.items():
        if pts:
            items.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{COLOURS[name]}"/><text x="{x + 14}" y="17">{name} ({len(pts)})</text>')
            x += 20 + 7 * (len(name) + 6)
    return "".join(items)


def write_html(history: History, report: dict[str, Any], path: str | Path) -> None:
    series = latency_series(history)
    rows = "".join(
        f"<tr><td>{name}</td><td>{s['n']}</td>" + "".join(f"<td>{s.get(k, float('nan')):.1f}</td>" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")) + "</tr>"
        for name, s in report["latency"].items() if s["n"]
    )
    violations = "".join(f"<li>{html.escape(str(Violation(**v)))}</li>" for v in report["violations"][:200]) or "<li>none</li>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>switchboard loadtest</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head>
<body><h1>switchboard loadtest: {html.escape(str(report['target']))}</h1>
<p>{report['runs_sent']} runs sent, {report['runs_accepted']} accepted, {report['runs_completed']} completed in {report['elapsed_s']:.2f} s:
<b>{report['throughput_runs_per_s']:.1f} runs/s</b>; {report['errors']['count']} errors; <b>{len(report['violations'])} violations</b>.</p>
<table><tr><th>metric</th><th>n</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>{rows}</table>
<h2>Latency over time</h2>{svg_over_time(series)}
<h2>Latency distribution</h2>{svg_distribution(series)}
<h2>Violations</h2><ul>{violations}</ul>
<h2>Workload</h2><pre>{html.escape(json.dumps(report['workload'], indent=2))}</pre></body></html>"""
    Path(path).write_text(page)
