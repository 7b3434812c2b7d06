"""What the contract test cannot see: NCF's feature choice and DLRM without numeric features."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import tf

SPEC = zoo.FeatureSpec((
    zoo.NumericFeature("age"),
    zoo.CategoricalFeature("user", 6),
    zoo.SequenceFeature("tags", 5, max_len=2),
    zoo.CategoricalFeature("item", 7),
    zoo.CategoricalFeature("city", 4),
))
INPUTS = {
    "age": tf.constant([0.5, -1.0]),
    "user": tf.constant([1, 2], tf.int64),
    "tags": tf.constant([[1, 2], [3, 0]], tf.int64),
    "item": tf.constant([3, 4], tf.int64),
    "city": tf.constant([1, 2], tf.int64),
}


@pytest.mark.parametrize("name", ["gmf", "ncf_mlp", "neumf"])
def test_ncf_embeds_only_the_first_two_categorical_features(name):
    model = zoo.create(name, SPEC, **({"hidden_units": (4,)} if name != "gmf" else {}))
    embedded = sorted({w.name.split("/")[0].rsplit("_", 1)[-1] for w in model.trainable_weights if "embedding" in w.name})
    assert embedded == ["item", "user"]
    others = {**INPUTS, "age": tf.constant([9.0, 9.0]), "tags": tf.constant([[4, 4], [0, 0]], tf.int64),
              "city": tf.constant([3, 3], tf.int64)}
    np.testing.assert_array_equal(model(others).numpy(), model(INPUTS).numpy())


def test_ncf_user_and_item_can_be_named():
    model = zoo.create("gmf", SPEC, user_feature="city", item_feature="user")
    assert {w.name.split("/")[0] for w in model.trainable_weights} >= {"gmf_embedding_city", "gmf_embedding_user"}


@pytest.mark.parametrize("hparams, message", [
    ({"user_feature": "age"}, "user_feature 'age' is not a categorical feature"),
    ({"item_feature": "tags"}, "item_feature 'tags' is not a categorical feature"),
    ({"user_feature": "item"}, "both 'item'"),
])
def test_ncf_rejects_features_it_cannot_embed(hparams, message):
    with pytest.raises(ValueError, match=message):
        zoo.create("gmf", SPEC, **hparams)


def test_ncf_needs_two_categorical_features():
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("user", 6), zoo.NumericFeature("age")))
    with pytest.raises(ValueError, match="two categorical features"):
        zoo.create("neumf", spec)


def test_dlrm_without_numeric_features_has_no_bottom_mlp():
    spec = zoo.FeatureSpec(SPEC.features[1:])
    model = zoo.create("dlrm", spec, hidden_units=(4,))
    assert "bottom" not in [layer.name for layer in model.layers]
    assert model.get_layer("interaction").output_shape == (None, 6)  # 4 fields -> 4 choose 2 pairs
    assert model({k: v for k, v in INPUTS.items() if k != "age"}).shape == (2, 1)


def test_dlrm_interacts_the_bottom_output_with_every_field():
    model = zoo.create("dlrm", SPEC, bottom_units=(4,), hidden_units=(4,))
    # 4 fields + bottom output = 5 vectors -> 10 pairs, then the 16-wide bottom output beside them
    assert model.get_layer("interaction").output_shape == (None, 10)
    assert model.get_layer("bottom_and_interactions").output_shape == (None, 16 + 10)


def test_dlrm_needs_two_vectors():
    with pytest.raises(ValueError, match="at least two vectors"):
        zoo.create("dlrm", zoo.FeatureSpec((zoo.CategoricalFeature("user", 6),)))
