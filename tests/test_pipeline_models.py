"""MovieLens with user histories through the real TFX pipeline: ranking models of every kind, then
retrieval, on one ExampleGen and Transform.

One ranking run on a small real MovieLens slice with a time split: the HistoryExampleGen builds every
impression's user history from the rating events in Beam, then one Transform, a Trainer and a Pusher
per model (the Evaluators are switched off by ``evaluation.enabled: false``, the config's option for
such comparison runs). The models are one of each kind the pipeline feeds differently: a tabular model
that pools the histories (deepfm), one that reads only the user and the item (neumf), attention over
the history (din) and a GRU over it with negatives from the batch (dien). Every ranking model is
exported, with the Transform graph, and served on raw examples by the contract test over the
registry (``tests/test_contract.py``); the shipped config lists them all. One pushed model is
served by ``zoo serve`` as its own process, the others by the same server code in-process.

Then the retrieval config runs in the same pipeline: ExampleGen, StatisticsGen and Transform come
from the ML Metadata cache, and a two-tower model trains, is evaluated by Recall@K / NDCG@K over
the whole corpus, pushed as a top-K model and served. The Evaluator's numbers are recounted here
from the pushed model's answers, and its top-K from its embeddings. Last, the next-item config's
models (sasrec and fmlp_rec) train on the same cached Transform, are measured the same way and are
served from the history alone.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

import zoo
from pipelines.config import ModelConfig, load_config
from pipelines.run import run_pipeline
from pipelines.tasks import RETRIEVAL_KS
from zoo.data import histories
from zoo.retrieval import metrics

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
ROWS = 2000
TRAINED = ("deepfm", "neumf", "din", "dien")


@pytest.fixture(scope="module")
def shipped(movielens_dir, tmp_path_factory):
    return load_config(REPO / "configs" / "movielens_ranking_models.yaml",
                       output_dir=str(tmp_path_factory.mktemp("models")))


def _small(config, movielens_dir, **training):
    return config.replace(
        data=dataclasses.replace(config.data, path=str(movielens_dir), download=False,
                                 fallback_to_synthetic=False, max_rows=ROWS, split="time"),
        training=dataclasses.replace(config.training, eval_steps=1, batch_size=64, **training),
    )


@pytest.fixture(scope="module")
def config(shipped, movielens_dir):
    return _small(shipped, movielens_dir, train_steps=2).replace(
        models=tuple(m for m in shipped.models if m.name in TRAINED),
        evaluation=dataclasses.replace(shipped.evaluation, enabled=False),
        warmup_examples=0,  # tests/test_pipeline.py covers the warm-up step
    )


def test_the_config_trains_every_ranking_model(shipped, config):
    assert sorted(m.name for m in shipped.models) == sorted(zoo.list_models(task="ranking"))
    assert sorted(m.name for m in config.models) == sorted(TRAINED)


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
    from pipelines.push import read_split
    from zoo.backend import tf

    (split_dir,) = pathlib.Path(config.pipeline_root, "HistoryExampleGen", "examples").glob(f"*/Split-{split}")
    return [tf.train.Example.FromString(record) for record in read_split(str(split_dir))]


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
    rows = [row for row in rows if row[header.index("run")] == summary.run_id]
    listed = {row[header.index("model")]: row[header.index("pushed")] for row in rows}
    assert listed == {o.model_name: o.pushed_path for o in summary.models}
    assert {row[header.index("blessed")] for row in rows} == {"-"}  # not evaluated


# --- retrieval, in the same pipeline --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def retrieval_config(config, movielens_dir):
    retrieval = load_config(REPO / "configs" / "movielens_retrieval.yaml", output_dir=config.output_dir)
    return _small(retrieval, movielens_dir, train_steps=30).replace(pipeline_name=config.pipeline_name)


@pytest.fixture(scope="module")
def retrieval(summary, retrieval_config):
    return run_pipeline(retrieval_config, echo=lambda line: None)  # after the ranking run: its cache serves


@pytest.fixture(scope="module")
def pushed(retrieval):
    from zoo.backend import tf

    assert retrieval.blessed and retrieval.pushed_path
    return tf.saved_model.load(retrieval.pushed_path)


def _top_k(pushed, examples):
    from zoo.backend import tf

    answer = pushed.signatures["serving_default"](examples=tf.constant([e.SerializeToString() for e in examples]))
    return answer["ids"].numpy(), answer["scores"].numpy()


def test_retrieval_reuses_example_gen_and_transform_and_measures_recall_and_ndcg(retrieval, retrieval_config,
                                                                                  config):
    from pipelines.runs import list_runs

    states = list_runs(retrieval_config.metadata_path, retrieval_config.pipeline_name)[-1].states()
    assert states["HistoryExampleGen"] == states["Transform"] == "CACHED"
    assert states["Trainer"] == states["Evaluator"] == states["ServingWarmup"] == states["Pusher"] == "COMPLETE"
    assert retrieval.metrics["example_count"] == len(_examples(config, "eval"))
    for k in RETRIEVAL_KS:
        assert 0 <= retrieval.metrics[f"ndcg@{k}"] <= retrieval.metrics[f"recall@{k}"] <= 1
    recalls = [retrieval.metrics[f"recall@{k}"] for k in RETRIEVAL_KS]
    assert recalls == sorted(recalls) and recalls[-1] > 0


def _assert_recounted(measured: dict, pushed, held_out: list) -> None:
    """The Evaluator's Recall@K and NDCG@K (``measured``) are those of the pushed model's answers."""
    ids, _ = _top_k(pushed, held_out)
    items = [_ints(example, "movie_id") for example in held_out]
    for k in RETRIEVAL_KS:
        assert measured[f"recall@{k}"] == pytest.approx(
            np.mean([metrics.recall_at_k(row, item, k) for row, item in zip(ids, items)]), abs=1e-6)
        assert measured[f"ndcg@{k}"] == pytest.approx(
            np.mean([metrics.ndcg_at_k(row, item, k) for row, item in zip(ids, items)]), abs=1e-6)


def _served_top_k(name: str, pushed_path: str, queries: list) -> list[dict]:
    """The predictions of ``zoo serve``'s REST ``:predict`` for the tf.Example ``queries`` (as b64)."""
    from pipelines.demo import http_json
    from serving.server import start_server

    instances = [{"b64": base64.b64encode(query.SerializeToString()).decode()} for query in queries]
    with start_server(name, str(pathlib.Path(pushed_path).parent)) as server:
        return http_json(f"{server.url}/v1/models/{name}:predict",
                         {"signature_name": "serving_default", "instances": instances})["predictions"]


def test_the_retrieval_evaluator_numbers_are_those_of_the_pushed_models_answers(retrieval, pushed, config):
    _assert_recounted(retrieval.metrics, pushed, _examples(config, "eval"))


def test_the_top_k_is_the_best_of_the_corpus_without_the_querys_history(pushed, config):
    from zoo.backend import tf

    examples = _examples(config, "eval")[-50:]
    ids, scores = _top_k(pushed, examples)
    query = pushed.signatures["query_embedding"](
        examples=tf.constant([e.SerializeToString() for e in examples]))["embedding"].numpy()
    seen = [_ints(example, "hist_movie_ids") for example in examples]
    assert any(seen)
    expected_ids, expected_scores = metrics.top_k(query, pushed.candidate_embeddings.numpy(),
                                                  pushed.candidate_values.numpy(), ids.shape[1], exclude=seen)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert np.mean(ids == expected_ids) > 0.99  # equal but for ties
    for row, history in zip(ids, seen):
        assert not set(row) & set(history)
    # The index can be rebuilt outside: candidate_embedding gives the exported index's rows.
    values = pushed.candidate_values[:5]
    np.testing.assert_allclose(pushed.signatures["candidate_embedding"](movie_id=values)["embedding"].numpy(),
                               pushed.candidate_embeddings[:5].numpy(), rtol=1e-5, atol=1e-6)


def test_a_served_retrieval_query_needs_no_item(retrieval, retrieval_config, pushed, config):
    examples = _examples(config, "eval")[-3:]
    expected, _ = _top_k(pushed, examples)
    for example in examples:
        for name in ("movie_id", "clicked", "genres", "release_year"):  # the item's side is not sent
            del example.features.feature[name]
    answer = _served_top_k(retrieval_config.serving_model_name, retrieval.pushed_path, examples)
    assert [row["ids"] for row in answer] == expected.tolist()
    for row in answer:
        assert row["scores"] == sorted(row["scores"], reverse=True)


def test_runs_list_the_retrieval_headline(retrieval, retrieval_config):
    from pipelines.runs import format_runs, list_runs

    header, *rows = format_runs(list_runs(retrieval_config.metadata_path, retrieval_config.pipeline_name),
                                "recall@100")
    (row,) = [row for row in rows if row[header.index("run")] == retrieval.run_id]
    assert float(row[header.index("recall@100")]) == pytest.approx(retrieval.metrics["recall@100"], abs=1e-4)
    assert row[header.index("blessed")] == "yes" and row[header.index("pushed")] == retrieval.pushed_path


# --- next-item retrieval (sasrec, fmlp_rec), in the same pipeline ---------------------------------------------


@pytest.fixture(scope="module")
def next_item_config(config, movielens_dir):
    shipped = load_config(REPO / "configs" / "movielens_next_item.yaml", output_dir=config.output_dir)
    small = {"sequence_feature": "hist_movie_ids", "embedding_dim": 16, "num_blocks": 1}
    return _small(shipped, movielens_dir, train_steps=30).replace(
        pipeline_name=config.pipeline_name, models=(ModelConfig("sasrec", small), ModelConfig("fmlp_rec", small)),
        # 30 steps on 1,600 ratings: the blessing gate is the shipped config's business, not this test's.
        evaluation=dataclasses.replace(shipped.evaluation, min_recall=0.0))


@pytest.fixture(scope="module")
def next_item(retrieval, next_item_config):
    return run_pipeline(next_item_config, echo=lambda line: None)  # after the retrieval run: the same cache serves


def test_next_item_models_train_on_the_cached_transform_and_are_measured_on_their_pushed_answers(
        next_item, next_item_config, config):
    from pipelines.runs import list_runs
    from zoo.backend import tf

    states = list_runs(next_item_config.metadata_path, next_item_config.pipeline_name)[-1].states()
    assert states["HistoryExampleGen"] == states["Transform"] == "CACHED"
    held_out = _examples(config, "eval")
    assert [outcome.model_name for outcome in next_item.models] == ["sasrec", "fmlp_rec"]
    for outcome in next_item.models:
        assert states[f"Trainer_{outcome.model_name}"] == states[f"Pusher_{outcome.model_name}"] == "COMPLETE"
        assert outcome.blessed and outcome.pushed_path
        assert outcome.metrics["example_count"] == len(held_out)
        _assert_recounted(outcome.metrics, tf.saved_model.load(outcome.pushed_path), held_out)
        assert outcome.metrics["recall@100"] > 0


def test_a_served_next_item_query_is_the_history_alone(next_item, next_item_config, config):
    from zoo.backend import tf

    examples = [e for e in _examples(config, "eval") if _ints(e, "hist_movie_ids")][-3:]
    outcome = next_item.models[0]
    expected, _ = _top_k(tf.saved_model.load(outcome.pushed_path), examples)
    queries = []
    for example in examples:
        query = tf.train.Example()
        query.features.feature["hist_movie_ids"].CopyFrom(example.features.feature["hist_movie_ids"])
        queries.append(query)
    answer = _served_top_k(f"{next_item_config.serving_model_name}_{outcome.model_name}", outcome.pushed_path, queries)
    assert [row["ids"] for row in answer] == expected.tolist()
    for row, example in zip(answer, examples):
        assert not set(row["ids"]) & set(_ints(example, "hist_movie_ids"))
        assert row["scores"] == sorted(row["scores"], reverse=True)
