"""Behaviour-sequence CTR models (din, dien, bst, tin, sdim) and next-item models (sasrec, fmlp_rec)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import zoo
from tests.conftest import REPO
from zoo.backend import keras, tf
from zoo.features import FeatureError

HISTORY_MODELS = ["din", "dien", "bst", "tin", "sdim"]
TINY = {"embedding_dim": 8, "hidden_units": (8,)}
SPEC = zoo.FeatureSpec((
    zoo.CategoricalFeature("user_id", 20),
    zoo.CategoricalFeature("movie_id", 30),
    zoo.SequenceFeature("hist_movie_ids", 30, 6, shares="movie_id"),
    zoo.SequenceFeature("hist_gaps", 10, 6),
    zoo.NumericFeature("age"),
), label="clicked")


def _batch(n=64, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 7, n)
    history = np.where(np.arange(6) < lengths[:, None], rng.integers(2, 30, (n, 6)), 0)
    inputs = {"user_id": rng.integers(1, 20, n), "movie_id": rng.integers(2, 30, n), "hist_movie_ids": history,
              "hist_gaps": np.where(history > 0, rng.integers(1, 10, (n, 6)), 0),
              "age": rng.normal(size=n).astype(np.float32)}
    # Clicked when the candidate was seen before: only the history can tell.
    labels = (history == inputs["movie_id"][:, None]).any(axis=1).astype(np.float32)
    return inputs, labels


@pytest.mark.parametrize("name", HISTORY_MODELS)
def test_history_model_trains_reads_the_history_and_round_trips_its_config(name):
    keras.utils.set_random_seed(0)
    inputs, labels = _batch()
    model = zoo.create(name, SPEC, **TINY)
    assert zoo.get_card(name).paper.citation in type(model).__doc__
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    model.fit(inputs, labels, batch_size=32, epochs=1, verbose=0)
    predictions = model(inputs, training=False).numpy()
    assert predictions.shape == (64, 1) and np.all(np.isfinite(predictions))
    assert np.all((predictions > 0) & (predictions < 1))
    changed = dict(inputs, hist_movie_ids=np.roll(inputs["hist_movie_ids"], 1, axis=0))
    assert not np.allclose(model(changed, training=False).numpy(), predictions), "the history is ignored"
    rebuilt = type(model).from_config(json.loads(json.dumps(model.get_config())))
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(inputs, training=False).numpy(), predictions, atol=1e-6)


def test_history_must_share_the_candidates_table():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("movie_id", 30), zoo.SequenceFeature("hist_movie_ids", 30, 6)))
    with pytest.raises(FeatureError, match="zoo.shares=movie_id"):
        zoo.create("din", spec)


def test_missing_history_feature_is_a_feature_error_naming_it():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("item", 30), zoo.SequenceFeature("tags", 5, 3)))
    with pytest.raises(FeatureError, match="'movie_id'"):
        zoo.create("bst", spec)


def test_dien_adds_its_auxiliary_loss_and_din_its_mini_batch_aware_l2():
    inputs, _ = _batch(16)
    dien = zoo.create("dien", SPEC, **TINY)
    dien(inputs)
    assert len(dien.losses) == 1 and float(dien.losses[0]) > 0
    assert not zoo.create("dien", SPEC, aux_weight=0.0, **TINY).losses
    din = zoo.create("din", SPEC, mba_l2=0.1, **TINY)
    din(inputs)
    assert len(din.losses) == 1 and float(din.losses[0]) > 0


def test_bst_feeds_the_mlp_the_candidates_output_or_every_positions():
    inputs, _ = _batch(4)
    widths = {}
    for output in ("target", "flatten"):
        model = zoo.create("bst", SPEC, sequence_output=output, num_heads=2, **TINY)
        (dense,) = [layer for layer in model.get_layer("dnn").submodules if isinstance(layer, keras.layers.Dense)][:1]
        model(inputs)
        widths[output] = int(dense.kernel.shape[0])
    # The MLP reads the 4 pooled fields, 1 numeric and the candidate (8 each but age) plus the sequence part:
    # the candidate's output (8) or all 6 + 1 positions (56).
    assert widths == {"target": 4 * 8 + 1 + 8 + 8, "flatten": 4 * 8 + 1 + 8 + 7 * 8}
    with pytest.raises(ValueError, match="sequence_output must be one of"):
        zoo.create("bst", SPEC, sequence_output="mean", **TINY)


@pytest.mark.parametrize("name", ["sasrec", "fmlp_rec"])
def test_next_item_model_learns_a_sequential_rule_over_the_full_item_set(name):
    # Items 2..11 in runs (i, i+1, i+2, ...) mod 10: the next item is determined by the last one.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n, max_len = 512, 5
    lengths = rng.integers(1, max_len + 1, n)
    starts = rng.integers(0, 10, n)
    steps = (starts[:, None] + np.arange(max_len + 1)) % 10 + 2
    history = np.where(np.arange(max_len) < lengths[:, None], steps[:, :max_len], 0)
    targets = steps[np.arange(n), lengths]
    spec = zoo.FeatureSpec((zoo.SequenceFeature("hist_movie_ids", 12, max_len),))
    model = zoo.create(name, spec, embedding_dim=16, num_blocks=1, dropout=0.0)
    assert zoo.get_card(name).task == "retrieval"
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit({"hist_movie_ids": history}, targets, batch_size=64, epochs=15, verbose=0)
    scores = model({"hist_movie_ids": history}, training=False).numpy()
    assert scores.shape == (n, 12)
    assert np.mean(scores.argmax(axis=1) == targets) > 0.9  # chance: 0.1


FIXED = {"user_id", "movie_id", "hour", "weekday", "timestamp", "clicked"}  # one value in every row


def _raw_rows(frame, columns):
    """Rows as TFT instances and JSON examples: scalars where the schema fixes one value, else lists."""
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for column in columns:
            value = record[column]
            if column in FIXED:
                row[column] = int(value)
            elif isinstance(value, list):
                row[column] = value
            elif not pd.isna(value):
                row[column] = [value if isinstance(value, str) else int(value)]
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def movielens(movielens_dir, tmp_path_factory):
    """300 MovieLens ratings with their histories, Transform fitted on them, and their raw tf.Examples
    serialized and transformed."""
    from types import SimpleNamespace

    from pipelines.transform import feature_spec, fit_in_memory, raw_serving_spec
    from zoo.data import histories
    from zoo.schema import load_schema

    schema = load_schema(REPO / "schemas" / "movielens_history.pbtxt")
    frame = histories.add_histories(histories.load_events(movielens_dir, max_rows=300), max_len=50)
    rows = _raw_rows(frame, histories.HISTORY_DATA_COLUMNS)
    transform_output = fit_in_memory(rows, schema, str(tmp_path_factory.mktemp("transform")))
    serialized = tf.constant([histories.to_example(r).SerializeToString() for r in frame.to_dict("records")])
    raw = tf.io.parse_example(serialized, raw_serving_spec(schema))
    return SimpleNamespace(schema=schema, frame=frame, rows=rows, transform_output=transform_output,
                           spec=feature_spec(schema, transform_output), serialized=serialized,
                           transformed=transform_output.transform_raw_features(raw, drop_unused_features=True))


def test_serving_takes_histories_in_tf_examples_and_json(movielens, tmp_path):
    """Raw rows with history lists -> Transform (history encoded with movie_id's vocabulary) ->
    DIN; the exported signature answers serialized tf.Examples and TF Serving's JSON examples alike."""
    from pipelines.export import export_serving_model
    from serving.codec import decode_examples

    schema, frame, rows, spec, serialized, transformed = (
        movielens.schema, movielens.frame, movielens.rows, movielens.spec, movielens.serialized, movielens.transformed)
    sizes = {f.name: getattr(f, "vocab_size", None) for f in spec.features}
    assert sizes["hist_movie_ids"] == sizes["movie_id"]

    # One vocabulary: a movie in a history gets the id the same movie gets as the candidate.
    ids_of = dict(zip(frame["movie_id"], transformed["movie_id"].numpy()))
    checked = 0
    for raw_ids, encoded in zip(frame["hist_movie_ids"], transformed["hist_movie_ids"].numpy()):
        for movie, encoded_id in zip(raw_ids, encoded):
            if movie in ids_of:
                assert encoded_id == ids_of[movie]
                checked += 1
    assert checked > 100

    model = zoo.create("din", spec, embedding_dim=4, attention_units=(4,), hidden_units=(4,))
    expected = model({n: transformed[n] for n in spec.names}, training=False).numpy()
    export_dir = export_serving_model(model, movielens.transform_output, schema, str(tmp_path / "export"))
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    (from_examples,) = serve(examples=serialized).values()
    np.testing.assert_allclose(from_examples.numpy(), expected, atol=1e-5)
    # TF Serving's JSON examples (:classify/:regress bodies): the history is a plain list per request.
    picked = ([i for i, r in enumerate(rows) if r["hist_movie_ids"]][:3]
              + [i for i, r in enumerate(rows) if not r["hist_movie_ids"]][:2])
    request = {"examples": [{k: v for k, v in rows[i].items() if k != "clicked"} for i in picked]}
    (from_json,) = serve(examples=tf.constant(decode_examples(json.loads(json.dumps(request))))).values()
    np.testing.assert_allclose(from_json.numpy(), expected[picked], atol=1e-5)


@pytest.mark.parametrize("name", ["sasrec", "fmlp_rec"])
def test_a_next_item_top_k_model_returns_the_best_corpus_items_outside_the_history(movielens, tmp_path, name):
    """What the retrieval pipeline pushes for a next-item model (``pipelines.retrieval.NextItemTopKModel``):
    from raw tf.Examples, the model's scores of Transform ids 1..n are the corpus (movie_id's vocabulary),
    movies of the query's history are left out, and ids come back as raw movie ids."""
    from pipelines.retrieval import NextItemTopKModel

    keras.utils.set_random_seed(0)
    model = zoo.create(name, movielens.spec, embedding_dim=8, num_blocks=1)
    module = NextItemTopKModel(model, movielens.transform_output, movielens.schema, "movie_id", k=5)
    tf.saved_model.save(module, str(tmp_path), signatures=module.signatures())
    answer = tf.saved_model.load(str(tmp_path)).signatures["serving_default"](examples=movielens.serialized)

    corpus = np.array([int(v) for v in movielens.transform_output.vocabulary_by_name("movie_id")])
    history = movielens.transformed["hist_movie_ids"].numpy()
    scores = model({"hist_movie_ids": history}, training=False).numpy()[:, 1:len(corpus) + 1]
    for row, ids in enumerate(history):
        seen = ids[(ids >= 1) & (ids <= len(corpus))] - 1  # Transform id i is corpus item i - 1
        scores[row, seen] = -np.inf
    best = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    np.testing.assert_allclose(answer["scores"].numpy(), np.take_along_axis(scores, best, axis=1), rtol=1e-5, atol=1e-5)
    assert np.mean(answer["ids"].numpy() == corpus[best]) > 0.99  # equal but for ties
    with_history = [i for i, row in enumerate(movielens.frame["hist_movie_ids"]) if len(row)]
    assert with_history
    for i in with_history:
        assert not set(answer["ids"].numpy()[i]) & set(movielens.frame["hist_movie_ids"][i])
