"""DLRM: embeddings and a bottom MLP over dense features, crossed by pairwise dot products."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import NUMERIC, FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.dot_interaction import DotInteraction
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class DLRM(ZooModel):
    """Deep Learning Recommendation Model for Personalization and Recommendation Systems
    (Naumov et al., 2019, arXiv:1906.00091).

    The dense (numeric) features go through a bottom MLP whose last layer has ``embedding_dim``
    units, so its output ``z`` is one more vector beside the categorical embeddings ``e_i``. The
    interaction takes the dot product of every distinct pair of these vectors (second-order terms
    only, as in FM, without self-products)::

        y = sigmoid(top_MLP([z, <z, e_1>, ..., <e_i, e_j> for i < j]))

    Without numeric features there is no bottom MLP and no ``z``. Sequence features are fields
    like the categorical ones (mean of their embeddings; DLRM pools multi-hot ids with a sum).

    Args:
      features: the ``FeatureSpec`` (or its config).
      embedding_dim: size of every embedding and of the bottom MLP's output (paper: 16).
      bottom_units: the bottom MLP's hidden layers before its ``embedding_dim`` output layer
        (paper on Criteo: 512-256-64).
      hidden_units, activation: the top MLP (paper: 512-256, ReLU), followed by the logit.
      l2: L2 penalty on embeddings.
    """

    def __init__(self, features, embedding_dim=16, bottom_units=(512, 256, 64), hidden_units=(512, 256),
                 activation="relu", l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        embedding = FeatureEmbedding(features, embedding_dim, l2=l2, name="embedding")
        has_dense = bool(features.of_kind(NUMERIC))
        if embedding.num_fields + has_dense < 2:
            raise ValueError("DLRM needs at least two vectors to interact: two embedded features, "
                             "or one plus numeric features")
        fields, dense = embedding(inputs)
        if has_dense:
            bottom = MLP(tuple(bottom_units) + (embedding_dim,), activation=activation, name="bottom")(dense)
            vectors = keras.layers.Concatenate(axis=1, name="vectors")(
                [keras.layers.Reshape((1, embedding_dim))(bottom), fields])
            interactions = DotInteraction(name="interaction")(vectors)
            top_input = keras.layers.Concatenate(name="bottom_and_interactions")([bottom, interactions])
        else:
            top_input = DotInteraction(name="interaction")(fields)
        top = MLP(hidden_units, activation=activation, name="top")(top_input)
        outputs = probability_head(keras.layers.Dense(1, name="logit")(top))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.bottom_units = tuple(bottom_units)
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.l2 = l2


@register_model(
    family="dlrm", task="ranking", model_class=DLRM,
    inputs=TABULAR_INPUTS,
    paper=Paper("Deep Learning Recommendation Model for Personalization and Recommendation Systems", "1906.00091"),
    defaults=dict(embedding_dim=16, bottom_units=(512, 256, 64), hidden_units=(512, 256)),
)
def dlrm(features, **hparams):
    return DLRM(features, **hparams)
