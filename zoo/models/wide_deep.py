"""Wide & Deep: a linear model with feature crosses trained jointly with an MLP."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, LinearTerms, feature_inputs
from zoo.models.base import TABULAR_INPUTS, ZooModel, flat_fields, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class WideDeep(ZooModel):
    """Wide & Deep Learning for Recommender Systems (Cheng et al., 2016, arXiv:1606.07792).

    ``P(y=1|x) = sigmoid(w_wide^T [x, phi(x)] + w_deep^T a^(lf) + b)``: the wide part is a
    linear model over the sparse features ``x`` and their cross-product transformations
    ``phi(x)`` (memorization); the deep part is an MLP over the concatenated embeddings and dense
    features (generalization). Both are trained jointly on one log loss.

    The paper trains the wide part with FTRL + L1 and the deep part with AdaGrad; here one
    optimizer (chosen at compile time) trains both, and ``l2`` regularizes the wide weights.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of every categorical embedding in the deep part.
      hidden_units, activation, dropout: the deep MLP.
      wide_crosses: pairs of categorical features to cross in the wide part; ``None`` = all pairs.
      cross_buckets: hash bins per cross.
      l2: L2 penalty on the wide weights and embeddings.
    """

    def __init__(self, features, embedding_dim=32, hidden_units=(1024, 512, 256), activation="relu",
                 dropout=0.0, wide_crosses=None, cross_buckets=10_000, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        wide_logit = LinearTerms(features, crosses=wide_crosses, cross_buckets=cross_buckets, l2=l2, name="wide")(inputs)
        fields, dense = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")(inputs)
        deep = MLP(hidden_units, activation=activation, dropout=dropout, name="deep")(flat_fields(fields, dense))
        deep_logit = keras.layers.Dense(1, name="deep_logit")(deep)
        outputs = probability_head(keras.layers.Add(name="logit")([wide_logit, deep_logit]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.wide_crosses = None if wide_crosses is None else tuple(tuple(p) for p in wide_crosses)
        self.cross_buckets = cross_buckets
        self.l2 = l2




@register_model(
    family="wide_deep", task="ranking", model_class=WideDeep, inputs=TABULAR_INPUTS,
    paper=Paper("Wide & Deep Learning for Recommender Systems", "1606.07792"),
    defaults=dict(embedding_dim=32, hidden_units=(1024, 512, 256), wide_crosses=None, cross_buckets=10_000),
)
def wide_deep(features, **hparams):
    return WideDeep(features, **hparams)
