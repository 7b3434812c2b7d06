"""FiBiNET: SENET field importance plus bilinear pairwise interactions, then an MLP."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, LinearTerms, feature_inputs
from zoo.layers.bilinear import BilinearInteraction
from zoo.layers.senet import SENetLayer
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class FiBiNET(ZooModel):
    """FiBiNET: Combining Feature Importance and Bilinear feature Interaction for Click-Through
    Rate Prediction (Huang et al., 2019, arXiv:1905.09433).

    The field embeddings ``E`` are re-weighted by a SENET layer into ``V``; a Bilinear-Interaction
    layer turns each of them into pairwise vectors ``p = {(e_i . W) o e_j}`` and
    ``q = {(v_i . W') o v_j}`` (two layers, one per input). The combination layer concatenates
    ``p`` and ``q`` and the deep part feeds it to an MLP; the output adds the linear part::

        y = sigmoid(w_0 + sum_i w_i x_i + y_d),   y_d = w^T MLP([p, q])

    Numeric features are fields ``x_i * v_i`` like the categorical ones.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: field embedding size (paper: 10).
      reduction_ratio: SENET bottleneck ratio (paper: 3).
      bilinear_type: "field_all", "field_each" or "field_interaction".
      hidden_units, activation, dropout: the DNN (paper, Criteo: 3 x 400, ReLU, dropout 0.5).
      l2: L2 penalty on embeddings and first-order weights.
    """

    def __init__(self, features, embedding_dim=10, reduction_ratio=3, bilinear_type="field_interaction",
                 hidden_units=(400, 400, 400), activation="relu", dropout=0.5, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        linear_logit = LinearTerms(features, l2=l2, name="linear")(inputs)
        reweighted = SENetLayer(reduction_ratio, name="senet")(fields)
        p = BilinearInteraction(bilinear_type, name="bilinear")(fields)
        q = BilinearInteraction(bilinear_type, name="senet_bilinear")(reweighted)
        combined = keras.layers.Concatenate(axis=1, name="combination")(
            [keras.layers.Flatten()(p), keras.layers.Flatten()(q)])
        deep = MLP(hidden_units, activation=activation, dropout=dropout, name="dnn")(combined)
        deep_logit = keras.layers.Dense(1, use_bias=False, name="dnn_logit")(deep)
        outputs = probability_head(keras.layers.Add(name="logit")([linear_logit, deep_logit]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.reduction_ratio = reduction_ratio
        self.bilinear_type = bilinear_type
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2


@register_model(
    family="fibinet", task="ranking", model_class=FiBiNET,
    inputs=TABULAR_INPUTS,
    paper=Paper("FiBiNET: Combining Feature Importance and Bilinear feature Interaction for Click-Through "
                "Rate Prediction", "1905.09433"),
    defaults=dict(embedding_dim=10, reduction_ratio=3, bilinear_type="field_interaction",
                  hidden_units=(400, 400, 400), dropout=0.5),
)
def fibinet(features, **hparams):
    return FiBiNET(features, **hparams)
