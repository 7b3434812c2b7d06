"""Sampling-based Deep Interest Modeling for long behaviour sequences."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers.sequence import SimHashAttention
from zoo.models.base import ZooModel
from zoo.models.din import HISTORY_INPUTS, behaviours, top
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class SDIM(ZooModel):
    """Sampling Is All You Need on Modeling Long-Term User Behaviors for CTR Prediction (Cao et al.,
    2022, arXiv:2205.10249).

    The long-term interest is gathered by hashing instead of attention: behaviours whose SimHash
    signature equals the candidate's are summed and normalized, averaged over ``num_hashes``
    functions of ``hash_bits`` bits (``SimHashAttention``). No per-behaviour scoring network runs, so
    the cost grows slowly with the history length. The paper pairs this with a short-term
    interest module on the latest behaviours; here the mean-pooled history among the usual fields
    plays that part.

    Args:
      features: the ``FeatureSpec``.
      history_feature, candidate_feature: the behaviour sequence and the candidate it shares a table with.
      embedding_dim: the size of every embedding.
      num_hashes, hash_bits: m and tau (paper: tau = 3 gave the best trade-off, m = 48).
      seed: seeds the fixed random projections.
      hidden_units, activation: the top MLP.
    """

    def __init__(self, features, history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16,
                 num_hashes=48, hash_bits=3, seed=0, hidden_units=(200, 80), activation="dice", **kwargs):
        features = FeatureSpec.coerce(features)
        b = behaviours(features, history_feature, candidate_feature, embedding_dim)
        interest = SimHashAttention(num_hashes, hash_bits, seed, name="simhash")(b.target, b.history, b.ids)
        super().__init__(inputs=b.inputs, outputs=top(b, [interest], hidden_units, activation), **kwargs)
        self.features = features
        self.history_feature = history_feature
        self.candidate_feature = candidate_feature
        self.embedding_dim = embedding_dim
        self.num_hashes = num_hashes
        self.hash_bits = hash_bits
        self.seed = seed
        self.hidden_units = tuple(hidden_units)
        self.activation = activation


@register_model(
    family="sdim", task="ranking", model_class=SDIM, inputs=HISTORY_INPUTS,
    paper=Paper("Sampling Is All You Need on Modeling Long-Term User Behaviors for CTR Prediction", "2205.10249"),
    defaults=dict(history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16, num_hashes=48,
                  hash_bits=3, seed=0, hidden_units=(200, 80), activation="dice"),
)
def sdim(features, **hparams):
    return SDIM(features, **hparams)
