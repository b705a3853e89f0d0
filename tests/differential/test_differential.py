"""The differential test: the same scenarios on the reference server (`langgraph dev`) and on switchboard,
on the same graphs; every response and stream event compared field by field after normalization. A
difference fails its scenario's test unless docs/differences.md lists it (with its reason); a listed
difference that no longer shows up fails `test_every_listed_difference_still_exists`.

Each server starts once for the module; every selected scenario then runs on both at once (they scope
what they search to themselves), and each test compares one scenario. See docs/differential.md."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from . import differences
from .compare import Difference, compare
from .probe import Probe
from .scenarios import SCENARIOS
from .servers import Server, install_reference, reference_binary, reference_server, scratch_dir, switchboard_server

CONCURRENT_SCENARIOS = 8
SCENARIO_TIMEOUT = 120.0


@dataclass
class Outcome:
    ran: list[str]
    listed: list[differences.Listed]
    errors: dict[str, str] = field(default_factory=dict)  # "<scenario>@<server>": the exception
    diffs: list[Difference] = field(default_factory=list)
    unlisted: list[Difference] = field(default_factory=list)


def _reference() -> str:
    binary = reference_binary()
    if binary is None and os.environ.get("SWITCHBOARD_SKIP_REFERENCE"):
        pytest.skip("SWITCHBOARD_SKIP_REFERENCE is set: the differential test is skipped")
    if binary is None:
        try:
            binary = install_reference()
        except (subprocess.CalledProcessError, OSError) as error:
            if os.environ.get("CI") or os.environ.get("SWITCHBOARD_REQUIRE_REFERENCE"):
                raise
            pytest.skip(f"the reference server (langgraph dev) is not installed and could not be: {error}; "
                        "run `.venv/bin/python -m tests.differential.servers --install` or set "
                        "SWITCHBOARD_REFERENCE_LANGGRAPH")
    return str(binary)


async def _run_one(name: str, servers: dict[str, Server], limit: asyncio.Semaphore) -> dict[str, Probe]:
    async def on(server: Server) -> Probe:
        probe = Probe(server.name, server.url, name)
        try:
            await asyncio.wait_for(SCENARIOS[name](probe), SCENARIO_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - a broken scenario is reported by its test, with the error
            probe.observations.append(("__error__", f"{type(error).__name__}: {error}"))
        finally:
            await probe.close()
        return probe

    async with limit:
        ref, ours = await asyncio.gather(on(servers["reference"]), on(servers["switchboard"]))
    return {"reference": ref, "switchboard": ours}


async def _run_all(names: list[str], servers: dict[str, Server]) -> dict[str, dict[str, Probe]]:
    limit = asyncio.Semaphore(CONCURRENT_SCENARIOS)
    results = await asyncio.gather(*(_run_one(n, servers, limit) for n in names))
    return dict(zip(names, results))


def _diff(name: str, ref: Probe, ours: Probe) -> list[Difference]:
    ref_obs, our_obs = dict(ref.normalized()), dict(ours.normalized())
    out: list[Difference] = []
    for key in list(ref_obs) + [k for k in our_obs if k not in ref_obs]:
        out += compare(name, key, ref_obs.get(key, "<not recorded>"), our_obs.get(key, "<not recorded>"))
    return out


@pytest.fixture(scope="module")
def outcome(request: pytest.FixtureRequest) -> Outcome:
    binary = _reference()
    selected = [item.callspec.params["name"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec") and "name" in item.callspec.params]
    names = [n for n in SCENARIOS if n in selected] or list(SCENARIOS)
    scratch = {"reference": scratch_dir("reference"), "switchboard": scratch_dir("switchboard")}
    servers = {"reference": reference_server(binary, scratch["reference"]),
               "switchboard": switchboard_server(scratch["switchboard"])}
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(), servers.values()))
        probes = asyncio.run(_run_all(names, servers))
    finally:
        for server in servers.values():
            server.stop()
    result = Outcome(ran=names, listed=differences.load())
    for name, pair in probes.items():
        for side, probe in pair.items():
            errors = [v for k, v in probe.observations if k == "__error__"]
            if errors:
                result.errors[f"{name}@{side}"] = errors[0]
        diffs = _diff(name, pair["reference"], pair["switchboard"])
        result.diffs += diffs
        result.unlisted += differences.unlisted(diffs, result.listed)
    if os.environ.get("SWITCHBOARD_DIFF_DUMP"):  # every difference, listed or not, one JSON per line
        with open(os.environ["SWITCHBOARD_DIFF_DUMP"], "w") as dump:
            for d in result.diffs:
                dump.write(json.dumps({"scenario": d.scenario, "path": d.path, "reference": d.reference,
                                       "switchboard": d.switchboard, "listed": d not in result.unlisted}, default=str) + "\n")
    for path in scratch.values():
        shutil.rmtree(path, ignore_errors=True)
    return result


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(outcome: Outcome, name: str) -> None:
    broken = outcome.errors.get(f"{name}@reference")
    assert broken is None, f"the scenario fails on the reference server itself: {broken}"
    unlisted = [d for d in outcome.unlisted if d.scenario == name]
    assert not unlisted, (
        f"{len(unlisted)} difference(s) from the reference not listed in docs/differences.md:\n"
        + "\n".join(d.render() for d in unlisted))


def test_every_listed_difference_still_exists(outcome: Outcome) -> None:
    if set(outcome.ran) != set(SCENARIOS):
        pytest.skip("only some scenarios ran")
    stale = [f"{e.id}: {', '.join(e.unused_paths())}" for e in outcome.listed if e.unused_paths()]
    assert not stale, ("docs/differences.md lists differences no longer observed (remove those paths, "
                       "or the row when none is left):\n" + "\n".join(stale))
