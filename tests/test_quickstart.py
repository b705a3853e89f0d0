"""The README's quick start, for real: `switchboard serve` as a subprocess on the bundled example
graph, then the user's double-texting example with the Python client and with curl."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import double_texting  # noqa: E402  (examples/double_texting.py)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(command: list[str], port: int):
    """Start `command` (a `switchboard serve`) and wait for its ready line; returns (process, url)."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        if selector.select(timeout=deadline - time.monotonic()):
            line = process.stdout.readline()
            lines.append(line)
            if "ready on http://" in line or not line:
                break
    url = f"http://127.0.0.1:{port}"
    if not any(f"switchboard ready on {url}" in line for line in lines):
        process.kill()
        raise AssertionError("".join(lines))
    return process, url


@pytest.fixture(scope="module")
def served_example(tmp_path_factory):
    port = free_port()
    data_dir = tmp_path_factory.mktemp("data")  # the default ./.switchboard/ would persist between test runs
    process, url = start_server(
        [sys.executable, "-m", "server.cli", "serve", "--config", "examples/agent/langgraph.json", "--port", str(port),
         "--data-dir", str(data_dir)],
        port,
    )
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_dev_serve_with_flags_keeps_the_bundled_example():
    port = free_port()
    process, url = start_server(["./dev", "serve", "--port", str(port), "--storage", "memory"], port)
    try:
        assert httpx.get(f"{url}/assistants/agent").json()["graph_id"] == "agent"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_agent_reads_content_given_as_content_blocks(served_example):
    # agent-chat-ui sends `content` as a list of blocks; the answer quotes the text, not the list.
    blocks = [{"type": "text", "text": "what's the weather in sf?"}]
    state = httpx.post(
        f"{served_example}/runs/wait",
        json={"assistant_id": "agent", "input": {"messages": [{"type": "human", "content": blocks}]},
              "config": {"configurable": {"step_seconds": 0}}},
        timeout=30,
    ).json()
    assert contents(state)[1] == "Thinking about: what's the weather in sf?"
    assert contents(state)[2] == "Looking up the forecast for sf..."
    assert contents(state)[-1] == "It is sunny and 20°C. (You asked: what's the weather in sf?)"


def contents(state) -> list[str]:
    return [m["content"] for m in state["messages"]]


async def test_the_seed_example_runs_unchanged_for_every_strategy(served_example):
    interrupt, rollback, enqueue = await asyncio.gather(
        double_texting.main(served_example, "interrupt"),
        double_texting.main(served_example, "rollback"),
        double_texting.main(served_example, "enqueue"),
    )
    # interrupt: the first run's completed step stays, then the second run's three steps.
    assert contents(interrupt)[0] == "what's the weather in sf?"
    assert contents(interrupt)[1] == "Thinking about: what's the weather in sf?"
    assert contents(interrupt)[2] == "what's the weather in nyc?"
    assert contents(interrupt)[-1].endswith("(You asked: what's the weather in nyc?)")
    assert len(interrupt["messages"]) == 2 + 1 + 3
    # rollback: nothing of the first run remains.
    assert contents(rollback)[0] == "what's the weather in nyc?" and len(rollback["messages"]) == 4
    # enqueue: both runs complete, in order.
    assert len(enqueue["messages"]) == 8
    assert contents(enqueue)[3].endswith("(You asked: what's the weather in sf?)")


async def test_reject_refuses_the_second_text(served_example):
    with pytest.raises(httpx.HTTPStatusError) as err:
        await double_texting.main(served_example, "reject")
    assert err.value.response.status_code == 409


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_curl_scenario_works(served_example):
    result = subprocess.run(
        ["bash", str(ROOT / "examples" / "double_texting.sh"), served_example],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    state = json.loads(result.stdout)
    assert contents(state)[-1].endswith("(You asked: what's the weather in nyc?)")
    assert contents(state)[1] == "Thinking about: what's the weather in sf?"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_seed_curl_with_broken_json_gets_a_400_saying_where(served_example):
    thread_id = httpx.post(f"{served_example}/threads", json={}).json()["thread_id"]
    script = f'''curl -s --request POST \\
    --url {served_example}/threads/{thread_id}/runs \\
    --header 'Content-Type: application/json' \\
    --data "{{
      \\"assistant_id\\": \\"agent\\",
      \\"input\\": {{\\"messages\\": [{{\\"role\\": \\"human\\", \\"content\\": \\"what\\'s the weather in sf?\\"}}]}},
    }}" -w '\\n%{{http_code}}'
'''
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "400"
    assert "invalid escape character" in json.loads(body)["detail"]
    assert "line 3" in json.loads(body)["detail"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_block_in_the_readme_works_as_written(served_example):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Double texting, with curl", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    block = block.replace("URL=http://127.0.0.1:8123", f"URL={served_example}")
    result = subprocess.run(["bash", "-c", "set -e\n" + block], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # stdout holds the first run (JSON) and then the joined state (JSON), back to back.
    final = json.loads(result.stdout[result.stdout.rindex('{"messages"') :])
    assert contents(final)[-1].endswith("(You asked: what's the weather in nyc?)")


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="Node.js is not installed")
def test_the_seed_example_runs_unchanged_with_the_js_client(served_example, tmp_path):
    for name in ("package.json", "double_texting.mjs"):
        shutil.copy(ROOT / "examples" / "js" / name, tmp_path / name)
    install = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert install.returncode == 0, install.stderr
    result = subprocess.run(
        ["node", "double_texting.mjs", served_example], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["first_status"] == "interrupted"
    assert contents(report["state"])[1] == "Thinking about: what's the weather in sf?"
    assert contents(report["state"])[-1].endswith("(You asked: what's the weather in nyc?)")


def test_the_embedded_examples_in_the_readme_run_as_written():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Embedded, without HTTP", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0] for b in section.split("```python")[1:]]
    assert len(blocks) == 2
    for block in blocks:
        result = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "messages" in result.stdout
