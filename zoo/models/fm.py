"""Factorization Machines: a linear model plus factorized pairwise interactions."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import FactorizationMachine, FeatureEmbedding, LinearTerms, feature_inputs
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class FM(ZooModel):
    """Factorization Machines (Rendle, ICDM 2010; not on arXiv).

    ``y = sigmoid(w_0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j)``: every pairwise
    interaction gets the dot product of two k-dimensional factors instead of its own weight, so
    pairs never seen together in training still get an estimate. A categorical or sequence field
    contributes its (mean) embedding, a numeric feature ``x_i * v_i``.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: the factor size k (the paper varies it; 8 is libFM's default).
      l2: L2 penalty on the factors and first-order weights.
    """

    def __init__(self, features, embedding_dim=8, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        first_order = LinearTerms(features, l2=l2, name="first_order")(inputs)
        second_order = FactorizationMachine(name="fm")(fields)
        outputs = probability_head(keras.layers.Add(name="logit")([first_order, second_order]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.l2 = l2


@register_model(
    family="fm", task="ranking", model_class=FM,
    inputs=TABULAR_INPUTS,
    paper=Paper("Factorization Machines", venue="Rendle, ICDM 2010"),
    defaults=dict(embedding_dim=8),
)
def fm(features, **hparams):
    return FM(features, **hparams)
