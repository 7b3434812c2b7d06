"""AutoInt: high-order feature interactions learned by multi-head self-attention over fields."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.attention import InteractingLayer
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class AutoInt(ZooModel):
    """AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural Networks
    (Song et al., 2019, arXiv:1810.11921).

    Every feature becomes a field vector ``e_m`` (a numeric feature ``x_m`` is ``x_m * v_m``, as
    in the paper); ``L`` stacked interacting layers (``InteractingLayer``) apply multi-head
    self-attention across the fields with a residual projection and a ReLU, and the output is

        y = sigmoid(w^T [e^Res_1, ..., e^Res_M] + b)

    With ``hidden_units`` this is the paper's AutoInt+: an MLP over the flattened embeddings is
    trained jointly, and its last layer is concatenated with the attention output before the
    linear unit (the authors' code sums two linear units: the same function, one bias fewer).

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: ``d`` (paper: 16).
      num_layers: ``L`` interacting layers (paper: 3).
      num_heads, attention_dim: ``H`` heads of width ``d'`` each (paper: 2 and 32).
      use_residual: the ``W_Res`` connection.
      hidden_units, activation, dropout: the AutoInt+ MLP; empty = plain AutoInt.
      l2: L2 penalty on the embeddings.
    """

    def __init__(self, features, embedding_dim=16, num_layers=3, num_heads=2, attention_dim=32,
                 use_residual=True, hidden_units=(), activation="relu", dropout=0.0, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        interacted = fields
        for i in range(num_layers):
            interacted = InteractingLayer(num_heads, attention_dim, use_residual, name=f"interacting_{i}")(interacted)
        top = keras.layers.Flatten(name="attention_output")(interacted)
        if hidden_units:
            deep = MLP(hidden_units, activation=activation, dropout=dropout, name="dnn")(keras.layers.Flatten()(fields))
            top = keras.layers.Concatenate(name="attention_and_dnn")([top, deep])
        outputs = probability_head(keras.layers.Dense(1, name="logit")(top))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.attention_dim = attention_dim
        self.use_residual = use_residual
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2


_PAPER = Paper("AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural Networks", "1810.11921")
_ATTENTION = dict(embedding_dim=16, num_layers=3, num_heads=2, attention_dim=32, use_residual=True)


@register_model(family="autoint", task="ranking", model_class=AutoInt, inputs=TABULAR_INPUTS, paper=_PAPER,
                defaults=_ATTENTION)
def autoint(features, **hparams):
    return AutoInt(features, **hparams)


@register_model(family="autoint", task="ranking", model_class=AutoInt, inputs=TABULAR_INPUTS, paper=_PAPER,
                defaults=dict(_ATTENTION, hidden_units=(400, 400)))
def autoint_plus(features, **hparams):
    """AutoInt+ (the authors' released run uses a 400-400 ReLU MLP)."""
    return AutoInt(features, **hparams)
