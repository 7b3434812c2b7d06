"""Every ranking model trains through the real TFX pipeline and serves a prediction.

One pipeline run on a small real MovieLens slice: one ExampleGen and Transform, then a Trainer and
a Pusher per model (the Evaluators are switched off by ``evaluation.enabled: false``, the config's
option for such comparison runs). One pushed model is served by ``zoo serve`` as its own process,
the others by the same server code in-process.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest

import zoo
from pipelines.config import load_config
from pipelines.run import run_pipeline

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent


def _needs_history(name: str) -> bool:
    """Behaviour-sequence models need per-impression histories (schemas/movielens_history.pbtxt), which
    the MovieLens CTR schema of this pipeline does not have; tests/test_sequence_models.py serves them."""
    return zoo.get_card(name).inputs.get("sequence") == "required"


def _models() -> list[str]:
    return [name for name in zoo.list_models(task="ranking") if not _needs_history(name)]


@pytest.fixture(scope="module")
def config(movielens_dir, tmp_path_factory):
    config = load_config(REPO / "configs" / "movielens_ranking_models.yaml",
                         output_dir=str(tmp_path_factory.mktemp("models")),
                         models=[{"name": name} for name in _models()])
    return config.replace(
        data=dataclasses.replace(config.data, path=str(movielens_dir), download=False,
                                 fallback_to_synthetic=False, max_rows=2000),
        training=dataclasses.replace(config.training, train_steps=2, eval_steps=1, batch_size=64),
        evaluation=dataclasses.replace(config.evaluation, enabled=False),
        warmup_examples=0,  # tests/test_pipeline.py covers the warm-up step; here it would add 19 components
    )


@pytest.fixture(scope="module")
def summary(config):
    return run_pipeline(config, echo=lambda line: None)


def test_only_behaviour_sequence_models_are_left_out():
    left_out = set(zoo.list_models(task="ranking")) - set(_models())
    assert left_out == {"din", "dien", "bst", "tin", "sdim"}


def test_one_transform_feeds_a_trainer_and_pusher_per_model(summary):
    names = _models()
    assert [outcome.model_name for outcome in summary.models] == names
    components = set(summary.component_seconds)
    assert {"CsvExampleGen", "Transform"} <= components
    assert {f"Trainer_{n}" for n in names} | {f"Pusher_{n}" for n in names} <= components
    assert not any(c.startswith(("Evaluator", "ServingWarmup")) for c in components)
    for outcome in summary.models:
        assert outcome.blessed is None and outcome.pushed_path is not None
        assert pathlib.Path(outcome.pushed_path, "saved_model.pb").is_file()


def _instances(config):
    from pipelines.demo import request_instances

    _, instances = request_instances(config, count=3)
    return {"signature_name": "serving_default", "instances": instances}


def test_every_pushed_model_serves_a_prediction(summary, config):
    from pipelines.demo import http_json, served
    from serving.server import start_server

    body = _instances(config)
    first, *others = summary.models
    name = f"{config.serving_model_name}_{first.model_name}"
    with served(name, str(pathlib.Path(first.pushed_path).parent)) as (_, url):  # `zoo serve`, its own process
        predictions = {first.model_name: http_json(f"{url}/v1/models/{name}:predict", body)["predictions"]}
    for outcome in others:
        name = f"{config.serving_model_name}_{outcome.model_name}"
        with start_server(name, str(pathlib.Path(outcome.pushed_path).parent)) as server:
            predictions[outcome.model_name] = http_json(f"{server.url}/v1/models/{name}:predict", body)["predictions"]
    for model_name, values in predictions.items():
        values = np.array(values)
        assert values.shape == (3, 1), model_name
        assert np.all((values > 0) & (values < 1)), model_name


def test_runs_lists_every_model_with_its_pushed_version(summary, config):
    from pipelines.runs import format_runs, list_runs

    header, *rows = format_runs(list_runs(config.metadata_path, config.pipeline_name))
    listed = {row[header.index("model")]: row[header.index("pushed")] for row in rows}
    assert listed == {o.model_name: o.pushed_path for o in summary.models}
    assert {row[header.index("blessed")] for row in rows} == {"-"}  # not evaluated
