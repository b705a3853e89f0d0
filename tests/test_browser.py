"""A real browser: a page served from another origin (its own local port) uses the official JS client,
bundled with esbuild, in headless Debian Chromium driven by playwright-core (tests/js/browser_run.mjs).
One page streams a run and double-texts with `Client`; another chats through React's `useStream`, as
agent-chat-ui does. The CORS preflights and the streamed answers must work, and a `http.cors` that
does not list the page's origin must stop the page."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.js_support import JS, ensure_js_packages, require, switchboard_serving


@pytest.fixture(scope="module")
def chromium() -> str:
    ensure_js_packages()
    return require("chromium")


@pytest.fixture(scope="module")
def server(chromium) -> Iterator[str]:
    with switchboard_serving(JS / "langgraph.json") as url:
        yield url


def open_page(chromium: str, page: str, sdk: str, api: str) -> dict:
    result = subprocess.run(
        ["node", "browser_run.mjs", page, sdk, api], cwd=JS, capture_output=True, text=True, timeout=180,
        env={**os.environ, "CHROMIUM": chromium},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("sdk", ["sdk18", "sdk-latest"])
def test_a_page_on_another_origin_streams_and_double_texts(chromium, server, sdk):
    seen = open_page(chromium, "client", sdk, server)
    result = seen["result"]
    assert "failed" not in result, seen
    assert not result["origin"].endswith(server.rsplit(":", 1)[1])  # really another origin
    # the streamed answer, each message completed on its own
    assert result["answer"] == ["hello big world", "second one", "whole at once"]
    assert result["last"] == "values"
    # double texting from the page: the first run was interrupted, the second streamed its steps
    assert result["second"] == ["second:0", "second:1", "second:2"]
    assert result["firstStatus"] == "interrupted"
    # every JSON POST needed a preflight; each was answered 200 with the open default
    preflighted = {answer["url"].rsplit("/", 1)[1] for answer in seen["preflight_answers"]}
    assert {"threads", "stream", "runs"} <= preflighted
    assert all(a["status"] == 200 and a["allow_origin"] == "*" for a in seen["preflight_answers"])
    assert not [line for line in seen["console"] if line.startswith(("error", "pageerror"))], seen["console"]


@pytest.mark.parametrize("sdk", ["sdk18", "sdk-latest"])
def test_use_stream_in_a_react_page_as_agent_chat_ui_uses_it(chromium, server, sdk):
    # agent-chat-ui's chat: useStream, content as a list of blocks, subgraphs and resumable streams
    # on. With a closing `end` frame, 1.8.x ended every answer with "SyntaxError: Unexpected end of
    # JSON input" here.
    seen = open_page(chromium, "use_stream", sdk, server)
    assert seen["result"] == {
        "messages": [
            ["human", '[{"type":"text","text":"hello?"}]'],
            ["ai", "hello big world"], ["ai", "second one"], ["ai", "whole at once"],
        ],
        "error": None,
    }
    assert seen["preflight_answers"] and all(a["status"] == 200 for a in seen["preflight_answers"])
    assert not [line for line in seen["console"] if line.startswith(("error", "pageerror"))], seen["console"]


def test_a_cors_policy_without_the_pages_origin_stops_it(chromium, tmp_path):
    config = json.loads((JS / "langgraph.json").read_text())
    config["graphs"] = {name: str(JS / spec.removeprefix("./")) for name, spec in config["graphs"].items()}
    config["http"] = {"cors": {"allow_origins": ["https://elsewhere.example"], "allow_methods": ["*"], "allow_headers": ["*"]}}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    with switchboard_serving(tmp_path / "langgraph.json") as url:
        seen = open_page(chromium, "client", "sdk-latest", url)
    assert "Failed to fetch" in seen["result"]["failed"]
    assert seen["preflight_answers"][0]["status"] == 400 and seen["preflight_answers"][0]["allow_origin"] is None
