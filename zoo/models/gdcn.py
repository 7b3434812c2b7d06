"""GDCN: a gated cross network beside (or below) an MLP."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.gated_cross import GatedCross
from zoo.models.base import TABULAR_INPUTS, ZooModel, cross_and_deep_logit, flat_fields, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class GDCN(ZooModel):
    """Towards Deeper, Lighter and Interpretable Cross Network for CTR Prediction (Wang et al., 2023,
    arXiv:2311.04635).

    ``c_0`` concatenates all embeddings and dense features. The Gated Cross Network stacks
    ``GatedCross`` layers::

        c_{l+1} = c_0 * (W^c_l c_l + b_l) * sigmoid(W^g_l c_l) + c_l

    whose information gates filter each order's crosses, so its performance keeps improving with
    depth where DCN V2's degrades. ``structure="parallel"`` (GDCN-P, the default) runs the GCN and
    an MLP side by side on ``c_0`` and gives ``p = sigmoid(w^T [c_L; h_L] + b)``;
    ``"stacked"`` (GDCN-S) feeds ``c_L`` to the MLP, whose output gives the logit. The paper's
    Field-level Dimension Optimization (a per-field embedding size found by a first training
    run) is not part of the model: every feature shares ``embedding_dim``.

    Defaults are the authors' released settings: embeddings of 16, 3 gated cross layers, an MLP
    of 400-400-400 with batch normalization, ReLU and dropout 0.5.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of every categorical embedding.
      num_cross_layers: depth of the gated cross network.
      hidden_units, activation, dropout, batch_norm: the MLP.
      structure: "parallel" (GDCN-P) or "stacked" (GDCN-S).
      l2: L2 penalty on embeddings.
    """

    def __init__(self, features, embedding_dim=16, num_cross_layers=3, hidden_units=(400, 400, 400),
                 activation="relu", dropout=0.5, batch_norm=True, structure="parallel", l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, dense = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")(inputs)
        crosses = [GatedCross(name=f"gated_cross_{i}") for i in range(num_cross_layers)]
        deep = MLP(hidden_units, activation=activation, dropout=dropout, batch_norm=batch_norm, name="deep")
        outputs = probability_head(cross_and_deep_logit(flat_fields(fields, dense), crosses, deep, structure))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.num_cross_layers = num_cross_layers
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.structure = structure
        self.l2 = l2


@register_model(
    family="gdcn", task="ranking", model_class=GDCN,
    inputs=TABULAR_INPUTS,
    paper=Paper("Towards Deeper, Lighter and Interpretable Cross Network for CTR Prediction", "2311.04635"),
    defaults=dict(embedding_dim=16, num_cross_layers=3, hidden_units=(400, 400, 400), dropout=0.5, batch_norm=True,
                  structure="parallel"),
)
def gdcn(features, **hparams):
    return GDCN(features, **hparams)
