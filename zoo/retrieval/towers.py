"""The two towers of a retrieval model, swappable by name, and the encoder that holds both.

Both towers read one ``FeatureEmbedding`` over the model's features, so a feature that ``shares``
another's table (a watch history sharing the candidate movie's ids) shares it across towers.
"""
from __future__ import annotations

import math

from zoo.backend import keras, tf
from zoo.config import constructor_config
from zoo.features import NUMERIC, FeatureSpec
from zoo.layers import MLP, FeatureEmbedding
from zoo.layers.embedding import _masked_mean, _numeric_block

SCORINGS = ("dot", "cosine")


@keras.saving.register_keras_serializable(package="zoo")
class MLPTower(keras.layers.Layer):
    """``Dense(output_dim)(MLP([flatten(fields), dense]))``: the deep tower of two-tower models.

    Input: field embeddings ``[batch, n, d]`` and numeric values ``[batch, m]``.
    """

    def __init__(self, output_dim=32, hidden_units=(64,), activation="relu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = int(output_dim)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.dropout = float(dropout)
        self._flatten = keras.layers.Flatten()
        self._mlp = MLP(self.hidden_units, activation=activation, dropout=self.dropout, name="mlp")
        self._projection = keras.layers.Dense(self.output_dim, name="projection")

    def call(self, fields, dense, training=None):
        x = tf.concat([self._flatten(fields), dense], axis=1)
        return self._projection(self._mlp(x, training=training))

    def get_config(self):
        return constructor_config(self, super().get_config())


@keras.saving.register_keras_serializable(package="zoo")
class EmbeddingTower(keras.layers.Layer):
    """``sum_i e_i``: the sum of the field embeddings, e.g. an item's own vector (the output
    embedding of YouTube DNN's softmax). Takes no numeric features.
    """

    def call(self, fields, dense, training=None):
        if dense.shape[-1]:
            raise ValueError("the 'embedding' tower takes id features only; use the 'mlp' tower for numeric ones")
        return tf.reduce_sum(fields, axis=1)


TOWERS = {"mlp": MLPTower, "embedding": EmbeddingTower}


def make_tower(name: str, output_dim: int, hidden_units, activation: str, dropout: float, layer_name: str):
    if name not in TOWERS:
        raise ValueError(f"unknown tower {name!r}; known: {sorted(TOWERS)}")
    if name == "embedding":
        return EmbeddingTower(name=layer_name)
    return MLPTower(output_dim, hidden_units, activation, dropout, name=layer_name)


@keras.saving.register_keras_serializable(package="zoo")
class Temperature(keras.layers.Layer):
    """``y = x / tau`` with a learnable temperature ``tau = exp(log_tau)`` (``tau > 0`` by construction).

    Applied to the query embedding, it makes every score ``s(q, c) = <q, c> / tau``, the
    temperature-scaled softmax logit, without a separate scoring layer at serving time.
    """

    def __init__(self, initial=0.1, learnable=True, **kwargs):
        super().__init__(**kwargs)
        if initial <= 0:
            raise ValueError(f"the temperature must be positive, got {initial}")
        self.initial = float(initial)
        self.learnable = bool(learnable)

    def build(self, input_shape):
        self.log_tau = self.add_weight(name="log_tau", shape=(), trainable=self.learnable,
                                       initializer=keras.initializers.Constant(math.log(self.initial)))
        super().build(input_shape)

    def call(self, x):
        return x * tf.exp(-self.log_tau)

    def get_config(self):
        return constructor_config(self, super().get_config())


@keras.saving.register_keras_serializable(package="zoo")
class DualEncoder(keras.layers.Layer):
    """A query tower and a candidate tower over one ``FeatureEmbedding``.

    ``embed_query`` and ``embed_candidates`` each read only their own features, so candidates
    can be embedded without queries (for an index) and queries without candidates (at serving).
    With ``scoring="cosine"`` both embeddings are L2-normalized; the query embedding is divided by
    the ``Temperature``, so ``<query, candidate>`` is the softmax logit.
    """

    def __init__(self, features, query_features, candidate_features, query_tower="mlp", candidate_tower="mlp",
                 embedding_dim=32, hidden_units=(64,), activation="relu", dropout=0.0, scoring="dot",
                 temperature=0.1, learn_temperature=True, **kwargs):
        super().__init__(**kwargs)
        if scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        self.features = FeatureSpec.coerce(features)
        self.query_features = tuple(query_features)
        self.candidate_features = tuple(candidate_features)
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.scoring = scoring
        self.temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)
        self._embedding = FeatureEmbedding(self.features, self.embedding_dim, name="embedding")
        tower = dict(output_dim=self.embedding_dim, hidden_units=self.hidden_units, activation=activation,
                     dropout=self.dropout)
        self._query_net = make_tower(query_tower, layer_name="query_tower", **tower)
        self._candidate_net = make_tower(candidate_tower, layer_name="candidate_tower", **tower)
        self._temperature = Temperature(self.temperature, self.learn_temperature, name="temperature")
        kinds = {f.name: f.kind for f in self.features.features}
        self._numeric = {side: [n for n in names if kinds[n] == NUMERIC]
                         for side, names in (("query", self.query_features), ("candidate", self.candidate_features))}

    def _tower(self, network, names, numeric, inputs, training):
        inputs = {n: tf.convert_to_tensor(inputs[n]) for n in names}  # numpy arrays too
        ids = [n for n in names if n not in numeric]
        fields = tf.stack([_pool(self._embedding.lookup(n, inputs[n]), inputs[n]) for n in ids], axis=1)
        x = network(fields, _numeric_block(inputs, numeric), training=training)
        return tf.math.l2_normalize(x, axis=1) if self.scoring == "cosine" else x

    def embed_query(self, inputs, training=None):
        """The query embeddings ``[batch, embedding_dim]``, divided by the temperature."""
        network, numeric = self._query_net, self._numeric["query"]
        return self._temperature(self._tower(network, self.query_features, numeric, inputs, training))

    def embed_candidates(self, inputs, training=None):
        network, numeric = self._candidate_net, self._numeric["candidate"]
        return self._tower(network, self.candidate_features, numeric, inputs, training)

    def call(self, inputs, training=None):
        return self.embed_query(inputs, training), self.embed_candidates(inputs, training)

    def get_config(self):
        return constructor_config(self, super().get_config())


def _pool(vectors, ids):
    """A sequence's embeddings averaged over its non-padding ids; a single id's vector as is."""
    return _masked_mean(vectors, ids) if ids.shape.rank == 2 else vectors
