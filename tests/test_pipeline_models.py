"""Every ranking model trains through the real TFX pipeline and serves a prediction.

One pipeline run on a small real MovieLens slice with a time split: the HistoryExampleGen builds
every impression's user history from the rating events in Beam, then one Transform, a Trainer and a
Pusher per model (the Evaluators are switched off by ``evaluation.enabled: false``, the config's
option for such comparison runs). The behaviour-sequence models read the histories; the tabular
ones pool them. One pushed model is served by ``zoo serve`` as its own process, the others by the
same server code in-process, each on raw eval examples carrying their histories.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

import zoo
from pipelines.config import load_config
from pipelines.run import run_pipeline
from zoo.data import histories

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
ROWS = 2000


@pytest.fixture(scope="module")
def config(movielens_dir, tmp_path_factory):
    config = load_config(REPO / "configs" / "movielens_ranking_models.yaml",
                         output_dir=str(tmp_path_factory.mktemp("models")))
    return config.replace(
        data=dataclasses.replace(config.data, path=str(movielens_dir), download=False,
                                 fallback_to_synthetic=False, max_rows=ROWS, split="time"),
        training=dataclasses.replace(config.training, train_steps=2, eval_steps=1, batch_size=64),
        evaluation=dataclasses.replace(config.evaluation, enabled=False),
        warmup_examples=0,  # tests/test_pipeline.py covers the warm-up step; here it would add 24 components
    )


@pytest.fixture(scope="module")
def summary(config):
    return run_pipeline(config, echo=lambda line: None)


def test_the_config_trains_every_ranking_model(config):
    assert sorted(m.name for m in config.models) == sorted(zoo.list_models(task="ranking"))


def test_one_transform_feeds_a_trainer_and_pusher_per_model(summary, config):
    names = [m.name for m in config.models]
    assert [outcome.model_name for outcome in summary.models] == names
    components = set(summary.component_seconds)
    assert {"HistoryExampleGen", "Transform"} <= components
    assert {f"Trainer_{n}" for n in names} | {f"Pusher_{n}" for n in names} <= components
    assert not any(c.startswith(("Evaluator", "ServingWarmup")) for c in components)
    for outcome in summary.models:
        assert outcome.blessed is None and outcome.pushed_path is not None
        assert pathlib.Path(outcome.pushed_path, "saved_model.pb").is_file()


def _examples(config, split: str) -> list:
    from zoo.backend import tf

    files = sorted(pathlib.Path(config.pipeline_root, "HistoryExampleGen", "examples").glob(f"*/Split-{split}/*"))
    assert files, split
    return [tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")]


def _ints(example, name: str) -> list[int]:
    return list(example.features.feature[name].int64_list.value)


def test_histories_built_in_the_pipeline_hold_only_earlier_behaviours(summary, config, movielens_dir):
    events = histories.load_events(movielens_dir, max_rows=ROWS)
    rated_at = {(u, m): t for u, m, t in events[["user_id", "movie_id", "timestamp"]].itertuples(index=False)}
    expected = histories.add_histories(events, max_len=50).set_index(["user_id", "movie_id"])["hist_movie_ids"]
    train, held_out = _examples(config, "train"), _examples(config, "eval")
    assert len(train) + len(held_out) == ROWS
    for example in train + held_out:
        user, movie, now = (_ints(example, name)[0] for name in ("user_id", "movie_id", "timestamp"))
        history = _ints(example, "hist_movie_ids")
        assert movie not in history
        assert all(rated_at[(user, past)] < now for past in history)
        assert history == expected[(user, movie)]  # what the in-memory builder gives
    # Held-out impressions come after every training one, and their histories reach back into training.
    cut = min(_ints(e, "timestamp")[0] for e in held_out)
    assert max(_ints(e, "timestamp")[0] for e in train) < cut
    assert any(rated_at[(_ints(e, "user_id")[0], m)] < cut for e in held_out for m in _ints(e, "hist_movie_ids"))


def _instances(config, count: int = 3) -> dict:
    """The last ``count`` held-out examples with a history, as b64 tf.Examples without the label."""
    requests = []
    for example in [e for e in _examples(config, "eval") if _ints(e, "hist_movie_ids")][-count:]:
        del example.features.feature["clicked"]
        requests.append({"b64": base64.b64encode(example.SerializeToString()).decode()})
    return {"signature_name": "serving_default", "instances": requests}


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
