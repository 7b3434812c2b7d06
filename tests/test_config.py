"""Pipeline config validation: every mistake is named."""
from __future__ import annotations

import pathlib

import pytest

from pipelines.config import ConfigError, load_config

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_shipped_config_loads_with_paths_resolved():
    config = load_config(REPO / "configs" / "movielens_ctr.yaml")
    assert config.model.name == "deepfm" and config.schema == str(REPO / "schemas" / "movielens_ctr.pbtxt")
    assert config.output_dir == str(REPO / "demo_output")
    assert config.data.path == str(REPO.parent / "shared" / "data" / "movielens-latest-small")
    assert config.model.hparams["hidden_units"] == [128, 64]


def test_relative_paths_resolve_against_the_config_file(tmp_path, config_file):
    assert load_config(config_file("")).output_dir == str(tmp_path / "out")


@pytest.mark.parametrize("text, message", [
    ("trainig: {}\n", r"unknown key\(s\) \['trainig'\]"),
    ("training: {train_steps: many}\n", "train_steps must be int"),
    ("training: {learning_rate: true}\n", "learning_rate must be float"),
    ("model: {name: deepfn}\n", "closest: deepfm"),
    ("data: {source: bigquery}\n", "data.source must be one of"),
    ("data: {source: csv}\n", "needs data.path"),
    ("model: {hparams: [1, 2]}\n", "hparams must be Mapping"),
])
def test_config_errors_are_specific(text, message, config_file):
    with pytest.raises((ConfigError, KeyError), match=message):
        load_config(config_file(text))


def test_missing_required_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("pipeline_name: p\n")
    with pytest.raises(ConfigError, match="missing required key"):
        load_config(path)
