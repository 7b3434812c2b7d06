"""Temporal Interest Network."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers.sequence import TemporalTargetAttention
from zoo.models.base import ZooModel
from zoo.models.din import HISTORY_INPUTS, behaviours, top
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class TIN(ZooModel):
    """Temporal Interest Network for User Response Prediction (Zhou et al., 2024, arXiv:2308.08487).

    Each behaviour's embedding gets a temporal embedding of how long before the target it happened
    (target-aware temporal encoding), is weighted by its scaled inner product with the
    (temporally encoded) target (target-aware attention), and enters the user vector multiplied
    element-wise by the target (target-aware representation); see ``TemporalTargetAttention``.
    The user vector joins the other fields in the top MLP.

    Args:
      features: the ``FeatureSpec``.
      history_feature, candidate_feature: the behaviour sequence and the candidate it shares a table with.
      time_feature: a sequence aligned with the history holding each behaviour's time before the
        target (MovieLens: ``hist_gaps``, log-scale hour buckets); it has its own table.
      embedding_dim: the size of every embedding.
      hidden_units, activation: the top MLP.
    """

    def __init__(self, features, history_feature="hist_movie_ids", candidate_feature="movie_id",
                 time_feature="hist_gaps", embedding_dim=16, hidden_units=(200, 80), activation="dice", **kwargs):
        features = FeatureSpec.coerce(features)
        b = behaviours(features, history_feature, candidate_feature, embedding_dim)
        interest = TemporalTargetAttention(name="temporal_attention")(b.target, b.history, b.lookup(time_feature), b.ids)
        super().__init__(inputs=b.inputs, outputs=top(b, [interest], hidden_units, activation), **kwargs)
        self.features = features
        self.history_feature = history_feature
        self.candidate_feature = candidate_feature
        self.time_feature = time_feature
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.activation = activation


@register_model(
    family="tin", task="ranking", model_class=TIN, inputs=HISTORY_INPUTS,
    paper=Paper("Temporal Interest Network for User Response Prediction", "2308.08487"),
    defaults=dict(history_feature="hist_movie_ids", candidate_feature="movie_id", time_feature="hist_gaps",
                  embedding_dim=16, hidden_units=(200, 80), activation="dice"),
)
def tin(features, **hparams):
    return TIN(features, **hparams)
