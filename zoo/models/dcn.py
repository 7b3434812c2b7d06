"""Deep & Cross Networks (v1 and V2): explicit bounded-degree feature crosses beside an MLP."""
from __future__ import annotations

import tensorflow_recommenders as tfrs

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.cross import CrossMix, CrossV1
from zoo.models.base import TABULAR_INPUTS, ZooModel, cross_and_deep_logit, flat_fields, probability_head
from zoo.registry import Paper, register_model

_DCN_V2_PAPER = Paper("DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale "
                      "Learning to Rank Systems", "2008.13535")

@keras.saving.register_keras_serializable(package="zoo")
class DCNv2(ZooModel):
    """DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale Learning to Rank
    Systems (Wang et al., 2020, arXiv:2008.13535).

    ``x_0`` concatenates all embeddings and dense features; each cross layer computes
    ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` (``tfrs.layers.dcn.Cross``; with ``projection_dim``
    r, ``W_l = U_l V_l^T`` is low-rank). With ``num_experts`` > 1 each layer is the paper's mixture
    of low-rank experts, DCN-Mix (``CrossMix``: rank ``projection_dim``, default 32, softmax gate).
    ``structure="stacked"`` feeds the cross network's output
    to the MLP; ``"parallel"`` runs both on ``x_0`` and concatenates them. A final linear layer
    gives the logit.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of every categorical embedding.
      num_cross_layers: depth of the cross network (the highest polynomial degree is this + 1).
      projection_dim: rank r of the low-rank cross layers; ``None`` = full rank.
      num_experts: ``None`` or 1 = one cross matrix per layer; K > 1 = DCN-Mix with K experts.
      hidden_units, activation, dropout: the deep network.
      structure: "stacked" or "parallel".
      l2: L2 penalty on embeddings.
    """

    def __init__(self, features, embedding_dim=16, num_cross_layers=3, projection_dim=None, num_experts=None,
                 hidden_units=(512, 256), activation="relu", dropout=0.0, structure="stacked", l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, dense = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")(inputs)
        if num_experts and num_experts > 1:
            crosses = [CrossMix(num_experts, projection_dim or 32, name=f"cross_mix_{i}")
                       for i in range(num_cross_layers)]
        else:
            crosses = [tfrs.layers.dcn.Cross(projection_dim=projection_dim, name=f"cross_{i}")
                       for i in range(num_cross_layers)]
        deep = MLP(hidden_units, activation=activation, dropout=dropout, name="deep")
        outputs = probability_head(cross_and_deep_logit(flat_fields(fields, dense), crosses, deep, structure))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.num_cross_layers = num_cross_layers
        self.projection_dim = projection_dim
        self.num_experts = num_experts
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.structure = structure
        self.l2 = l2


@register_model(
    family="dcn", task="ranking", model_class=DCNv2,
    inputs=TABULAR_INPUTS,
    paper=_DCN_V2_PAPER,
    defaults=dict(embedding_dim=16, num_cross_layers=3, projection_dim=None, hidden_units=(512, 256),
                  structure="stacked"),
)
def dcn_v2(features, **hparams):
    return DCNv2(features, **hparams)


@register_model(
    family="dcn", task="ranking", model_class=DCNv2,
    inputs=TABULAR_INPUTS,
    paper=_DCN_V2_PAPER,
    defaults=dict(embedding_dim=16, num_cross_layers=3, projection_dim=32, num_experts=4, hidden_units=(512, 256),
                  structure="parallel"),
)
def dcn_mix(features, **hparams):
    """DCN V2's mixture of low-rank cross experts (DCN-Mix), parallel with the deep network."""
    return DCNv2(features, **hparams)


@keras.saving.register_keras_serializable(package="zoo")
class DCN(ZooModel):
    """Deep & Cross Network for Ad Click Predictions (Wang et al., 2017, arXiv:1708.05123).

    ``x_0`` stacks all embeddings and dense features. The cross network applies
    ``x_{l+1} = x_0 * (x_l^T w_l) + b_l + x_l`` (``CrossV1``, a weight vector per layer, so
    degree-(L+1) crosses cost only 2d parameters per layer); the deep network is an MLP on the same
    ``x_0``. Their outputs are concatenated and a logistic layer gives
    ``p = sigmoid(w_logit^T [x_L1; h_L2] + b)``.

    The paper gives each feature an embedding of size ``6 * vocab_size^(1/4)``; here every feature
    shares ``embedding_dim``.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of every categorical embedding.
      num_cross_layers: depth L1 of the cross network (paper's best on Criteo: 6).
      hidden_units, activation, dropout: the deep network (paper's best: 2 layers of 1024, ReLU).
      batch_norm: batch normalization in the deep network, as in the paper.
      l2: L2 penalty on embeddings.
    """

    def __init__(self, features, embedding_dim=16, num_cross_layers=6, hidden_units=(1024, 1024), activation="relu",
                 dropout=0.0, batch_norm=True, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, dense = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")(inputs)
        crosses = [CrossV1(name=f"cross_{i}") for i in range(num_cross_layers)]
        deep = MLP(hidden_units, activation=activation, dropout=dropout, batch_norm=batch_norm, name="deep")
        outputs = probability_head(cross_and_deep_logit(flat_fields(fields, dense), crosses, deep, "parallel"))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.num_cross_layers = num_cross_layers
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.l2 = l2


@register_model(
    family="dcn", task="ranking", model_class=DCN,
    inputs=TABULAR_INPUTS,
    paper=Paper("Deep & Cross Network for Ad Click Predictions", "1708.05123"),
    defaults=dict(embedding_dim=16, num_cross_layers=6, hidden_units=(1024, 1024), batch_norm=True),
)
def dcn(features, **hparams):
    return DCN(features, **hparams)
