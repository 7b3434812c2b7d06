"""Each layer against values computed by hand from its formula."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo import layers
from zoo.backend import keras, tf
from zoo.layers import MLP, FactorizationMachine, FeatureEmbedding, LinearTerms

SPEC = zoo.FeatureSpec((
    zoo.CategoricalFeature("user", 4),
    zoo.SequenceFeature("tags", 5, max_len=3),
    zoo.NumericFeature("price"),
))
INPUTS = {
    "user": tf.constant([1, 3], tf.int64),
    "tags": tf.constant([[1, 2, 0], [4, 0, 0]], tf.int64),
    "price": tf.constant([2.0, -1.0]),
}


def _set(layer, name, value):
    (variable,) = [w for w in layer.weights if name in w.name]
    variable.assign(np.asarray(value, np.float32))


def test_factorization_machine_pairwise_term():
    fields = tf.constant([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    # <v1,v2> + <v1,v3> + <v2,v3> = 11 + 17 + 39
    np.testing.assert_allclose(FactorizationMachine()(fields).numpy(), [[67.0]])


def test_feature_embedding_lookup_masked_mean_and_dense_block():
    layer = FeatureEmbedding(SPEC, embedding_dim=2)
    layer(INPUTS)
    _set(layer, "embedding_user", np.arange(8).reshape(4, 2))
    _set(layer, "embedding_tags", np.arange(10).reshape(5, 2) * 10)
    fields, dense = layer(INPUTS)
    np.testing.assert_allclose(fields[:, 0].numpy(), [[2, 3], [6, 7]])  # rows 1 and 3
    # tags [1, 2, pad] -> mean of rows 1, 2; [4, pad, pad] -> row 4; padding never counts
    np.testing.assert_allclose(fields[:, 1].numpy(), [[30, 40], [80, 90]])
    np.testing.assert_allclose(dense.numpy(), [[2.0], [-1.0]])


def test_feature_embedding_numeric_as_fields_scales_a_learned_vector():
    layer = FeatureEmbedding(SPEC, embedding_dim=2, numeric_as_fields=True)
    layer(INPUTS)
    _set(layer, "numeric_vectors", [[0.5, -1.0]])
    fields, dense = layer(INPUTS)
    assert layer.num_fields == 3 and fields.shape == (2, 3, 2) and dense.shape == (2, 0)
    np.testing.assert_allclose(fields[:, 2].numpy(), [[1.0, -2.0], [-0.5, 1.0]])


def test_feature_embedding_initializer_gives_each_table_its_own_start():
    start = {"class_name": "RandomNormal", "config": {"stddev": 1e-4}}
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("a", 500), zoo.CategoricalFeature("b", 500)))
    layer = FeatureEmbedding(spec, embedding_dim=8, embeddings_initializer=start)
    layer({"a": tf.constant([1]), "b": tf.constant([1])})
    a, b = (w.numpy() for w in layer.weights)
    assert 0.8e-4 < a.std() < 1.2e-4 and 0.8e-4 < b.std() < 1.2e-4  # 4,000 draws of N(0, 1e-4)
    assert not np.allclose(a, b)
    uniform = FeatureEmbedding(spec, embedding_dim=8)  # Keras' default, U(-0.05, 0.05)
    uniform({"a": tf.constant([1]), "b": tf.constant([1])})
    assert 0.04 < np.abs(uniform.weights[0].numpy()).max() <= 0.05
    copy = FeatureEmbedding.from_config(layer.get_config())
    assert copy.embeddings_initializer == layer.embeddings_initializer
    assert copy.embeddings_initializer["class_name"] == "RandomNormal"


def test_feature_embedding_rejects_mixed_sizes_when_stacking():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("a", 3, embedding_dim=4),))
    with pytest.raises(ValueError, match="embedding_dim 4"):
        FeatureEmbedding(spec, embedding_dim=8)


def test_linear_terms_sum_bias_one_hot_multi_hot_and_numeric():
    layer = LinearTerms(SPEC)
    layer(INPUTS)
    _set(layer, "linear_user", [[0.0], [1.0], [2.0], [3.0]])
    _set(layer, "linear_tags", [[100.0], [10.0], [20.0], [30.0], [40.0]])  # id 0 (padding) must not count
    _set(layer, "dense", [[0.5]])
    _set(layer, "bias", [0.25])
    # row 0: 0.25 + w_user[1] + (w_tags[1] + w_tags[2]) + 0.5 * 2 ; row 1: 0.25 + 3 + 40 - 0.5
    np.testing.assert_allclose(layer(INPUTS).numpy(), [[0.25 + 1 + 30 + 1.0], [0.25 + 3 + 40 - 0.5]])


def test_linear_terms_cross_adds_the_hashed_pair_weight():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("a", 3), zoo.CategoricalFeature("b", 3)))
    inputs = {"a": tf.constant([1, 2], tf.int64), "b": tf.constant([2, 2], tf.int64)}
    layer = LinearTerms(spec, crosses=None, cross_buckets=7)
    assert layer.crosses == (("a", "b"),)
    layer(inputs)
    hashed = keras.layers.HashedCrossing(7)((inputs["a"], inputs["b"])).numpy()
    _set(layer, "cross_a_x_b", np.arange(7, dtype=np.float32)[:, None])
    np.testing.assert_allclose(layer(inputs).numpy()[:, 0], hashed.astype(np.float32))


def test_linear_terms_rejects_crossing_a_non_categorical_feature():
    with pytest.raises(ValueError, match="two categorical features"):
        LinearTerms(SPEC, crosses=[("user", "price")])


def test_mlp_computes_dense_relu_stack():
    layer = MLP(hidden_units=(2,), activation="relu")
    x = tf.constant([[1.0, -2.0]])
    layer(x)
    _set(layer, "kernel", [[1.0, 0.0], [0.0, 1.0]])
    _set(layer, "bias", [0.5, 0.5])
    np.testing.assert_allclose(layer(x).numpy(), [[1.5, 0.0]])


LAYER_EXAMPLES = [
    MLP((8, 4), activation="gelu", dropout=0.1, batch_norm=True, l2=1e-4),
    FactorizationMachine(),
    FeatureEmbedding(SPEC, embedding_dim=3, numeric_as_fields=True, l2=1e-5),
    LinearTerms(zoo.FeatureSpec((zoo.CategoricalFeature("a", 3), zoo.CategoricalFeature("b", 3))), crosses=[("a", "b")]),
    layers.CrossV1(),
    layers.DotInteraction(),
    layers.InteractingLayer(num_heads=3, attention_dim=5, use_residual=False),
    layers.CIN((6, 4), split_half=False),
    layers.SENetLayer(reduction_ratio=4),
    layers.BilinearInteraction("field_each"),
    layers.FeatureGating(hidden_units=(7, 5), context_dim=3),
    layers.InteractionAggregation(num_heads=4),
    layers.GatedCross(),
    layers.SelfMaskCross(epsilon=1e-3),
    layers.ConvFeatureGeneration((2,), (3,), (2,), (1,)),
    layers.ExpertMLPs(num_experts=3, hidden_units=(4, 2), activation="gelu", l2=1e-4),
    layers.MoE(num_experts=4, top_k=2, num_shared_experts=2, hidden_units=(3,), balance="aux_loss", aux_loss_weight=0.1),
    layers.GatedMixture(l2=1e-4),
    layers.CompositionalEmbedding(10, 3, collisions=4, operation="add", embeddings_regularizer="l2"),
    layers.CrossMix(num_experts=3, low_rank=2, activation="relu"),
    layers.Dice(epsilon=1e-6),
    layers.DenseStack((4, 2), activation="relu", output_units=1),
    layers.LocalActivationUnit((6,), activation="sigmoid"),
    layers.MiniBatchAwareL2(l2=0.1),
    layers.AUGRUCell(5),
    layers.InterestExtractor(4, aux_weight=0.5),
    layers.InterestEvolution(3),
    layers.FeedForward(8, activation="relu", dropout=0.1, norm_first=True),
    layers.TransformerBlock(num_heads=2, ff_units=8, activation="leaky_relu", dropout=0.0, causal=True),
    layers.FrequencyFilter(dropout=0.2),
    layers.TemporalTargetAttention(),
    layers.SimHashAttention(num_hashes=4, hash_bits=2, seed=3),
    layers.NextItemEncoder(20, 5, embedding_dim=4, block="filter", num_blocks=1, dropout=0.0),
    layers.RecomputedBottleneckInput(6, epsilon=1e-3),
    layers.GroupedConv2D(8, 3, strides=2, padding="same", groups=4, activation="relu"),
]


def test_every_exported_layer_has_a_config_example():
    exported = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)}
    assert exported == {type(layer).__name__ for layer in LAYER_EXAMPLES}


@pytest.mark.parametrize("layer", LAYER_EXAMPLES, ids=lambda layer: type(layer).__name__)
def test_layer_is_registered_and_config_complete(layer):
    assert keras.saving.get_registered_name(type(layer)) == f"zoo>{type(layer).__name__}"
    config = layer.get_config()
    rebuilt = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config
