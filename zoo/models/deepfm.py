"""DeepFM: a Factorization Machine and an MLP sharing one embedding."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FactorizationMachine, FeatureEmbedding, LinearTerms, feature_inputs
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class DeepFM(ZooModel):
    """DeepFM: A Factorization-Machine based Neural Network for CTR Prediction (Guo et al., 2017,
    arXiv:1703.04247).

    ``y = sigmoid(y_FM + y_DNN)`` with ``y_FM = <w, x> + sum_{i<j} <V_i, V_j> x_i x_j`` and
    ``y_DNN`` an MLP over the concatenated field embeddings. The FM and the DNN share the same
    embeddings ``V_i`` (no pre-training). Numeric features are fields too: their embedding is
    ``x_i * V_i``, as in the FM formulation.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: the latent size ``k`` shared by FM and DNN.
      hidden_units, activation, dropout: the DNN (paper: 400-400-400, ReLU, dropout 0.5).
      l2: L2 penalty on embeddings and first-order weights.
    """

    def __init__(self, features, embedding_dim=10, hidden_units=(400, 400, 400), activation="relu",
                 dropout=0.5, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        first_order = LinearTerms(features, l2=l2, name="first_order")(inputs)
        second_order = FactorizationMachine(name="fm")(fields)
        deep = MLP(hidden_units, activation=activation, dropout=dropout, name="dnn")(keras.layers.Flatten()(fields))
        deep_logit = keras.layers.Dense(1, name="dnn_logit")(deep)
        outputs = probability_head(keras.layers.Add(name="logit")([first_order, second_order, deep_logit]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2


@register_model(
    family="deepfm", task="ranking", model_class=DeepFM,
    inputs=TABULAR_INPUTS,
    paper=Paper("DeepFM: A Factorization-Machine based Neural Network for CTR Prediction", "1703.04247"),
    defaults=dict(embedding_dim=10, hidden_units=(400, 400, 400), dropout=0.5),
)
def deepfm(features, **hparams):
    return DeepFM(features, **hparams)
