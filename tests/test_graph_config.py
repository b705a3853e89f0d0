"""Loading graphs from a langgraph.json: file paths, module paths, factories, dependencies, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors import ActorSystem, Settings
from actors.config.graphs import GraphConfigError, load_graphs

CONFIG = Path(__file__).parent / "fixtures" / "config_pkg" / "langgraph.json"


def test_every_kind_of_graph_spec_loads_and_runs():
    with ActorSystem(settings=Settings(config_path=str(CONFIG))) as system:
        assert set(system.graph_ids) == {"by_module", "by_path", "uncompiled", "factory", "factory_config", "factory_async"}
        for graph_id in system.graph_ids:
            assert system.runs.wait(None, graph_id, input={"text": "hi"})["text"] == "HI"


@pytest.mark.parametrize(
    "config,message",
    [
        ({}, '"graphs"'),
        ({"graphs": {"g": "no_colon"}}, "must look like"),
        ({"graphs": {"g": "./missing.py:graph"}}, "not found"),
        ({"dependencies": ["."], "graphs": {"g": "mygraphs.factory:nope"}}, "no attribute 'nope'"),
        ({"dependencies": ["."], "graphs": {"g": "mygraphs.factory:State"}}, "not a graph"),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path, config, message):
    (tmp_path / "mygraphs").symlink_to(CONFIG.parent / "mygraphs")
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps(config))
    with pytest.raises(GraphConfigError, match=message):
        load_graphs(path)


def test_a_missing_or_broken_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(GraphConfigError, match="not found"):
        load_graphs(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(GraphConfigError, match="invalid JSON"):
        load_graphs(tmp_path / "bad.json")
