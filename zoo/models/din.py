"""Deep Interest Network, and what every behaviour-sequence CTR model here shares.

A behaviour model reads two features of the spec: a ``candidate_feature`` categorical (the item to
score) and a ``history_feature`` sequence of the same items that shares the candidate's embedding table
(schema tag ``zoo.shares``), so a behaviour and the candidate live in one space. Every other
feature is embedded as usual (``FeatureEmbedding``; sequences, the history included, mean-pooled)
and joins the top MLP next to the model's interest vector.
"""
from __future__ import annotations

import dataclasses

from zoo.backend import keras
from zoo.features import CATEGORICAL, SEQUENCE, FeatureError, FeatureSpec
from zoo.layers import FeatureEmbedding, feature_inputs
from zoo.layers.sequence import DenseStack, LocalActivationUnit, MiniBatchAwareL2
from zoo.models.base import ZooModel, probability_head
from zoo.registry import Paper, register_model

HISTORY_INPUTS = {"categorical": "required", "sequence": "required", "numeric": "optional"}
"""Card inputs of the behaviour models: the candidate (categorical) and its history (sequence)."""


@dataclasses.dataclass
class Behaviours:
    """The symbolic pieces a behaviour model is built from."""

    inputs: dict
    embedding: FeatureEmbedding
    fields: object  # [b, n_fields, d]
    dense: object  # [b, n_numeric]
    target: object  # the candidate's vector [b, d]
    history: object  # the behaviours' vectors [b, T, d]
    ids: object  # the history ids [b, T], 0 = padding

    def lookup(self, name):
        """Unpooled vectors of another feature of the spec (e.g. time gaps aligned with the history)."""
        check_feature(self.embedding.features, name, SEQUENCE, role="aligned sequence")
        return self.embedding.lookup(name, self.inputs[name])


def check_feature(spec: FeatureSpec, name: str, kind: str, role: str) -> None:
    feature = next((f for f in spec.features if f.name == name), None)
    if feature is None or feature.kind != kind:
        found = f"it is {feature.kind}" if feature else "the spec has no such feature"
        raise FeatureError(f"the {role} {name!r} must be a {kind} feature of the spec ({found}); "
                           f"features: {', '.join(spec.names)}")


def behaviours(features: FeatureSpec, history: str, candidate: str, embedding_dim: int, l2: float = 0.0,
               embeddings_initializer="uniform") -> Behaviours:
    """Inputs, embeddings, candidate and history vectors, after checking the two features."""
    check_feature(features, candidate, CATEGORICAL, role="candidate")
    check_feature(features, history, SEQUENCE, role="history")
    if features.table_owner(history) != features.table_owner(candidate):
        raise FeatureError(f"the history {history!r} must share the candidate {candidate!r}'s embedding table "
                           f"(schema tag zoo.shares={candidate} on {history!r})")
    inputs = feature_inputs(features)
    embedding = FeatureEmbedding(features, embedding_dim, l2=l2, embeddings_initializer=embeddings_initializer,
                                 name="embedding")
    fields, dense = embedding(inputs)
    return Behaviours(inputs, embedding, fields, dense, embedding.lookup(candidate, inputs[candidate]),
                      embedding.lookup(history, inputs[history]), inputs[history])


def top(b: Behaviours, interests, hidden_units, activation):
    """The prediction: an MLP over ``[fields, numeric, candidate, *interests]`` and a sigmoid."""
    parts = [keras.layers.Flatten()(b.fields), b.dense, b.target, *interests]
    logit = DenseStack(hidden_units, activation, output_units=1, name="dnn")(keras.layers.Concatenate()(parts))
    return probability_head(logit)


@keras.saving.register_keras_serializable(package="zoo")
class DIN(ZooModel):
    """Deep Interest Network for Click-Through Rate Prediction (Zhou et al., 2018, arXiv:1706.06978).

    The user's interest in candidate ``A`` is the history pooled by a local activation unit,
    ``v_U(A) = sum_j a(e_j, v_A) e_j`` (``LocalActivationUnit``: an MLP on ``[e_j, v_A, e_j - v_A,
    e_j * v_A]``, weights not softmax-normalized), fed with the other fields to an MLP with the Dice
    activation (``activation="dice"``; any Keras activation, e.g. ``"prelu"``-like ``"relu"``, also works).

    Args:
      features: the ``FeatureSpec``.
      history_feature, candidate_feature: the behaviour sequence and the candidate it shares a table with
        (``history`` would clash with ``Model.history``).
      embedding_dim: the size of every embedding.
      attention_units: the activation unit's hidden layers (paper: 80-40).
      hidden_units: the top MLP (paper: 200-80).
      activation: ``"dice"`` or a Keras activation, for both MLPs.
      mba_l2: mini-batch aware regularization strength on the candidate/history table
        (``MiniBatchAwareL2``); 0 turns it off.
      embeddings_initializer: the start of every embedding table, a Keras initializer's name or config
        (``FeatureEmbedding``). Keras' ``"uniform"`` by default; DeepCTR starts from ``{"class_name":
        "RandomNormal", "config": {"stddev": 1e-4}}``, which with batch-norm momentum 0.9 for Dice
        (``zoo.batch_norm``) matches its DIN on MovieLens (``benchmarks/sequence/ctr.py``, ``din_init_bn09``).
    """

    def __init__(self, features, history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16,
                 attention_units=(80, 40), hidden_units=(200, 80), activation="dice", mba_l2=0.0,
                 embeddings_initializer="uniform", **kwargs):
        features = FeatureSpec.coerce(features)
        b = behaviours(features, history_feature, candidate_feature, embedding_dim,
                       embeddings_initializer=embeddings_initializer)
        target, history_vectors = b.target, b.history
        if mba_l2:
            target, history_vectors = MiniBatchAwareL2(mba_l2, name="mba_l2")(
                [b.inputs[candidate_feature], b.ids], [target, history_vectors])
        interest = LocalActivationUnit(attention_units, activation, name="attention")(target, history_vectors, b.ids)
        super().__init__(inputs=b.inputs, outputs=top(b, [interest], hidden_units, activation), **kwargs)
        self.features = features
        self.history_feature = history_feature
        self.candidate_feature = candidate_feature
        self.embedding_dim = embedding_dim
        self.attention_units = tuple(attention_units)
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.mba_l2 = mba_l2
        self.embeddings_initializer = b.embedding.embeddings_initializer


@register_model(
    family="din", task="ranking", model_class=DIN, inputs=HISTORY_INPUTS,
    paper=Paper("Deep Interest Network for Click-Through Rate Prediction", "1706.06978"),
    defaults=dict(history_feature="hist_movie_ids", candidate_feature="movie_id", embedding_dim=16, attention_units=(80, 40),
                  hidden_units=(200, 80), activation="dice", mba_l2=0.0, embeddings_initializer="uniform"),
)
def din(features, **hparams):
    return DIN(features, **hparams)
