"""Deep Interest Evolution Network."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers.sequence import InterestEvolution, InterestExtractor
from zoo.models.base import ZooModel
from zoo.models.din import HISTORY_INPUTS, behaviours, top
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class DIEN(ZooModel):
    """Deep Interest Evolution Network for Click-Through Rate Prediction (Zhou et al., 2019,
    arXiv:1809.03672).

    The interest extractor (a GRU, ``InterestExtractor``) turns the behaviours into interest states,
    trained also by the auxiliary loss that makes ``h_t`` predict behaviour ``t + 1`` against a
    negative (added with ``add_loss``, so plain ``fit`` optimizes ``L_target + aux_weight * L_aux``;
    negatives are other rows' next behaviours in the mini-batch, see ``InterestExtractor``). The
    interest evolving layer (AUGRU, ``InterestEvolution``) runs over those states with the update
    gate scaled by each state's attention to the candidate; its final state joins the other fields
    in the top MLP.

    Args:
      features: the ``FeatureSpec``.
      history_feature, candidate_feature: the behaviour sequence and the candidate it shares a table with.
      embedding_dim: the size of every embedding, and of both GRUs' states (the auxiliary loss and
        the attention take inner products of states and behaviours).
      aux_weight: the auxiliary loss weight (paper: 1); 0 turns it off.
      hidden_units, activation: the top MLP (paper: 200-80, Dice).
    """

    def __init__(self, features, history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16,
                 aux_weight=1.0, hidden_units=(200, 80), activation="dice", **kwargs):
        features = FeatureSpec.coerce(features)
        b = behaviours(features, history_feature, candidate_feature, embedding_dim)
        interests = InterestExtractor(embedding_dim, aux_weight, name="interest_extractor")(b.history, b.ids)
        evolved = InterestEvolution(embedding_dim, name="interest_evolution")(interests, b.target, b.ids)
        super().__init__(inputs=b.inputs, outputs=top(b, [evolved], hidden_units, activation), **kwargs)
        self.features = features
        self.history_feature = history_feature
        self.candidate_feature = candidate_feature
        self.embedding_dim = embedding_dim
        self.aux_weight = aux_weight
        self.hidden_units = tuple(hidden_units)
        self.activation = activation


@register_model(
    family="dien", task="ranking", model_class=DIEN, inputs=HISTORY_INPUTS,
    paper=Paper("Deep Interest Evolution Network for Click-Through Rate Prediction", "1809.03672"),
    defaults=dict(history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16, aux_weight=1.0,
                  hidden_units=(200, 80), activation="dice"),
)
def dien(features, **hparams):
    return DIEN(features, **hparams)
