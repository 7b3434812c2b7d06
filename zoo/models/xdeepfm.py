"""xDeepFM: a linear model, a Compressed Interaction Network and an MLP on shared embeddings."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, LinearTerms, feature_inputs
from zoo.layers.cin import CIN
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class XDeepFM(ZooModel):
    """xDeepFM: Combining Explicit and Implicit Feature Interactions for Recommender Systems
    (Lian et al., 2018, arXiv:1803.05170).

    ``y = sigmoid(w_linear^T a + w_dnn^T x^k_dnn + w_cin^T p^+ + b)``: ``a`` the raw features
    (``LinearTerms``, which holds the one bias ``b``), ``x^k_dnn`` an MLP over the flattened
    field embeddings (implicit, bit-wise interactions) and ``p^+`` the sum-pooled feature maps of
    the CIN (explicit, vector-wise interactions of bounded degree). The CIN and the MLP share the
    embeddings; numeric features are fields ``x_i * v_i``.

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: field embedding size ``D`` (paper: 10).
      cin_layer_sizes: feature maps per CIN layer (paper, Criteo: 200 per layer, depth 3).
      split_half: half of each non-final CIN layer goes to the output, half to the next layer.
      hidden_units, activation, dropout: the DNN (paper: 400 neurons per layer).
      l2: L2 penalty on embeddings and first-order weights.
    """

    def __init__(self, features, embedding_dim=10, cin_layer_sizes=(200, 200, 200), split_half=True,
                 hidden_units=(400, 400), activation="relu", dropout=0.0, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        linear_logit = LinearTerms(features, l2=l2, name="linear")(inputs)
        pooled = CIN(cin_layer_sizes, split_half=split_half, name="cin")(fields)
        cin_logit = keras.layers.Dense(1, use_bias=False, name="cin_logit")(pooled)
        deep = MLP(hidden_units, activation=activation, dropout=dropout, name="dnn")(keras.layers.Flatten()(fields))
        dnn_logit = keras.layers.Dense(1, use_bias=False, name="dnn_logit")(deep)
        outputs = probability_head(keras.layers.Add(name="logit")([linear_logit, cin_logit, dnn_logit]))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.cin_layer_sizes = tuple(cin_layer_sizes)
        self.split_half = split_half
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2


@register_model(
    family="xdeepfm", task="ranking", model_class=XDeepFM,
    inputs=TABULAR_INPUTS,
    paper=Paper("xDeepFM: Combining Explicit and Implicit Feature Interactions for Recommender Systems",
                "1803.05170"),
    defaults=dict(embedding_dim=10, cin_layer_sizes=(200, 200, 200), split_half=True, hidden_units=(400, 400)),
)
def xdeepfm(features, **hparams):
    return XDeepFM(features, **hparams)
