"""Shared tables and compositional (quotient-remainder) embeddings, from the spec to the model."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.features import FeatureError
from zoo.layers import CompositionalEmbedding, FeatureEmbedding, LinearTerms

SHARED = zoo.FeatureSpec((
    zoo.CategoricalFeature("movie", 6),
    zoo.SequenceFeature("history", 6, max_len=3, shares="movie"),
    zoo.CategoricalFeature("user", 4),
))
INPUTS = {
    "movie": tf.constant([1, 5], tf.int64),
    "history": tf.constant([[1, 2, 0], [5, 0, 0]], tf.int64),
    "user": tf.constant([1, 3], tf.int64),
}


def test_compositional_embedding_is_quotient_times_remainder():
    layer = CompositionalEmbedding(10, 2, collisions=4)
    layer(tf.constant([0]))
    assert layer.quotient.input_dim == 3 and layer.remainder.input_dim == 4 and layer.rows == 7
    layer.quotient.embeddings.assign([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    layer.remainder.embeddings.assign([[1.0, 1.0], [2.0, 0.5], [3.0, 3.0], [0.0, 1.0]])
    # id 9 = 2 * 4 + 1: Q[2] * R[1] = [5*2, 6*0.5]; id 3 = 0 * 4 + 3: Q[0] * R[3] = [0, 2]
    np.testing.assert_allclose(layer(tf.constant([9, 3])).numpy(), [[10.0, 3.0], [0.0, 2.0]])


def test_compositional_embedding_gives_every_id_a_distinct_row_pair():
    vocab, collisions = 50, 7
    pairs = {(i // collisions, i % collisions) for i in range(vocab)}
    assert len(pairs) == vocab  # complementary partitions: no two ids share both rows


def test_compositional_add_and_bad_operation():
    layer = CompositionalEmbedding(5, 1, collisions=2, operation="add")
    layer(tf.constant([0]))
    layer.quotient.embeddings.assign([[1.0], [10.0], [100.0]])
    layer.remainder.embeddings.assign([[0.5], [0.25]])
    np.testing.assert_allclose(layer(tf.constant([3, 4])).numpy(), [[10.25], [100.5]])
    with pytest.raises(ValueError, match="operation"):
        CompositionalEmbedding(5, 1, collisions=2, operation="concat")


def test_sharing_feature_uses_its_owners_table():
    layer = FeatureEmbedding(SHARED, embedding_dim=2)
    fields, _ = layer(INPUTS)
    tables = {w.name.split("/")[-2] for w in layer.weights}
    assert tables == {"embedding_movie", "embedding_user"}  # no table of its own for the history
    table = layer.lookup("movie", tf.range(6, dtype=tf.int64)).numpy()
    # fields: categorical features first, then sequences
    np.testing.assert_allclose(fields[:, 2].numpy(), [(table[1] + table[2]) / 2, table[5]], rtol=1e-6)
    np.testing.assert_allclose(layer.lookup("history", INPUTS["history"]).numpy()[1, 0], table[5])
    linear = LinearTerms(SHARED)
    linear(INPUTS)
    assert len([w for w in linear.weights if "embeddings" in w.name]) == 2


def test_spec_rejects_bad_sharing():
    with pytest.raises(FeatureError, match="same vocab_size"):
        zoo.FeatureSpec((zoo.CategoricalFeature("a", 5), zoo.CategoricalFeature("b", 6, shares="a")))
    with pytest.raises(FeatureError, match="must be an id feature"):
        zoo.FeatureSpec((zoo.NumericFeature("a"), zoo.CategoricalFeature("b", 6, shares="a")))
    with pytest.raises(FeatureError, match="must be an id feature"):
        zoo.FeatureSpec((zoo.CategoricalFeature("b", 6, shares="missing"),))


def test_with_compositional_applies_to_large_owned_tables_and_round_trips():
    spec = SHARED.with_compositional(collisions=2, min_vocab_size=5)
    assert [getattr(f, "qr_collisions", None) for f in spec.features] == [2, None, None]
    assert zoo.FeatureSpec.from_config(spec.to_config()) == spec


def _parameters(model, prefix):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.name.startswith(prefix))


def test_any_model_takes_compositional_embeddings_through_its_spec(tmp_path):
    """DeepFM with QR tables: fewer embedding rows, trains, and saves and loads without custom_objects."""
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("user", 1000), zoo.CategoricalFeature("item", 400),
                            zoo.NumericFeature("age")), label="y")
    rng = np.random.default_rng(0)
    inputs = {"user": rng.integers(1, 1000, 512), "item": rng.integers(1, 400, 512),
              "age": rng.normal(size=512).astype("float32")}
    labels = (inputs["user"] % 2 == inputs["item"] % 2).astype("float32")
    plain = zoo.create("deepfm", spec, hidden_units=(8,))
    compact = zoo.create("deepfm", spec.with_compositional(collisions=20), hidden_units=(8,))
    assert _parameters(compact, "embedding") * 10 < _parameters(plain, "embedding")
    compact.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    history = compact.fit(inputs, labels, batch_size=64, epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]
    compact.save(tmp_path / "qr.keras")
    loaded = keras.models.load_model(tmp_path / "qr.keras")
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), compact.predict(inputs, verbose=0), atol=1e-6)
