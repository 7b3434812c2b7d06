"""FinalMLP: two gated MLP streams fused by a multi-head bilinear layer."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.finalmlp import FeatureGating, InteractionAggregation
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class FinalMLP(ZooModel):
    """FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction (Mao et al., 2023,
    arXiv:2304.00902).

    Two MLP streams read the same flattened field embeddings ``e``, each through its own feature
    gate ``x_s = 2 * sigmoid(MLP_g(c_s)) o e`` (``FeatureGating``, learnable context ``c_s``), so
    the streams differ in their inputs as well as their widths. Their outputs ``o_1``, ``o_2``
    are fused into the logit by multi-head bilinear aggregation (``InteractionAggregation``)::

        y = sigmoid(b + w_1^T o_1 + w_2^T o_2 + sum_h (o_1^h)^T W_3^h o_2^h)

    Numeric features are fields ``x_i * v_i``.

    Defaults are the authors' released default configuration (FuxiCTR ``FinalMLP_default``); the
    paper tunes per data set (e.g. Criteo: 10-dim embeddings, streams 400-400-400 and 1000,
    gate 800, 200 heads, batch norm and dropout 0.2/0.3).

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: field embedding size, also the size of each gate's context vector.
      hidden_units: stream 1's MLP.
      stream2_hidden_units: stream 2's MLP.
      gate_hidden_units: the hidden layers of each feature gate.
      num_heads: heads of the bilinear fusion; must divide both streams' last widths.
      activation, dropout, batch_norm: both streams' MLPs.
      l2: L2 penalty on the embeddings.
    """

    def __init__(self, features, embedding_dim=16, hidden_units=(1024, 512), stream2_hidden_units=(1024, 512, 256),
                 gate_hidden_units=(1024, 512), num_heads=2, activation="relu", dropout=0.0, batch_norm=False,
                 l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")(inputs)
        flat = keras.layers.Flatten()(fields)
        streams = []
        for i, units in enumerate((hidden_units, stream2_hidden_units), start=1):
            gated = FeatureGating(gate_hidden_units, context_dim=embedding_dim, name=f"gate_{i}")(flat)
            streams.append(MLP(units, activation=activation, dropout=dropout, batch_norm=batch_norm,
                               name=f"stream_{i}")(gated))
        logit = InteractionAggregation(num_heads, name="fusion")(streams)
        outputs = probability_head(logit)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.stream2_hidden_units = tuple(stream2_hidden_units)
        self.gate_hidden_units = tuple(gate_hidden_units)
        self.num_heads = num_heads
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.l2 = l2


@register_model(
    family="finalmlp", task="ranking", model_class=FinalMLP,
    inputs=TABULAR_INPUTS,
    paper=Paper("FinalMLP: An Enhanced Two-Stream MLP Model for CTR Prediction", "2304.00902"),
    defaults=dict(embedding_dim=16, hidden_units=(1024, 512), stream2_hidden_units=(1024, 512, 256),
                  gate_hidden_units=(1024, 512), num_heads=2),
)
def finalmlp(features, **hparams):
    return FinalMLP(features, **hparams)
