"""FGCNN: CNN-generated features added to the raw ones, classified by an IPNN."""
from __future__ import annotations

from zoo.backend import keras
from zoo.features import FeatureSpec
from zoo.layers import MLP, FeatureEmbedding, feature_inputs
from zoo.layers.dot_interaction import DotInteraction
from zoo.layers.feature_generation import ConvFeatureGeneration
from zoo.models.base import TABULAR_INPUTS, ZooModel, probability_head
from zoo.registry import Paper, register_model


@keras.saving.register_keras_serializable(package="zoo")
class FGCNN(ZooModel):
    """Feature Generation by Convolutional Neural Network for Click-Through Rate Prediction
    (Liu et al., 2019, arXiv:1904.04447).

    Feature Generation (``ConvFeatureGeneration``) treats the field embeddings ``E`` (``m`` fields
    of size ``k``) as an ``m x k`` image: per layer a ``(h, 1)`` convolution with tanh, a
    ``(p, 1)`` max-pooling and a tanh fully connected recombination into new fields. The new
    fields of all layers are appended to the raw ones, ``E' = [E; R_1; ...; R_n]`` (``N``
    fields), and the Deep Classifier is an IPNN on this augmented space::

        y = sigmoid(MLP([flatten(E'); <e'_i, e'_j> for i < j]))

    The pairwise inner products are ``DotInteraction``. As in the paper, Feature Generation and
    the Deep Classifier embed the raw features with separate tables unless ``share_embedding``,
    so that the generator's gradients do not disturb the classifier's embeddings. Numeric
    features are fields ``x_i * v_i``.

    Defaults follow the paper's Criteo setting: embeddings of 20, four convolutions of height 9
    with 38, 40, 42, 44 maps, pooling 2, 3 recombined maps each, an MLP of 4096-2048.

    Args:
      features: the ``FeatureSpec`` (or its config); at least two embedded fields.
      embedding_dim: field embedding size ``k``.
      channels, kernel_heights, pooling_sizes, recombined_channels: the Feature Generation
        layers (see ``ConvFeatureGeneration``).
      share_embedding: one embedding table for both components.
      hidden_units, activation, dropout, batch_norm: the classifier's MLP.
      l2: L2 penalty on the embeddings.
    """

    def __init__(self, features, embedding_dim=20, channels=(38, 40, 42, 44), kernel_heights=(9, 9, 9, 9),
                 pooling_sizes=(2, 2, 2, 2), recombined_channels=(3, 3, 3, 3), share_embedding=False,
                 hidden_units=(4096, 2048), activation="relu", dropout=0.0, batch_norm=False, l2=0.0, **kwargs):
        features = FeatureSpec.coerce(features)
        inputs = feature_inputs(features)
        embedding = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2, name="embedding")
        if embedding.num_fields < 2:
            raise ValueError("FGCNN needs at least two embedded fields to convolve and to interact")
        fields, _ = embedding(inputs)
        if share_embedding:
            generator_fields = fields
        else:
            generator_fields, _ = FeatureEmbedding(features, embedding_dim, numeric_as_fields=True, l2=l2,
                                                   name="generator_embedding")(inputs)
        new_fields = ConvFeatureGeneration(channels, kernel_heights, pooling_sizes, recombined_channels,
                                           name="feature_generation")(generator_fields)
        augmented = keras.layers.Concatenate(axis=1, name="augmented_fields")([fields, new_fields])
        products = DotInteraction(name="inner_products")(augmented)
        classifier_input = keras.layers.Concatenate(name="fields_and_products")(
            [keras.layers.Flatten()(augmented), products])
        deep = MLP(hidden_units, activation=activation, dropout=dropout, batch_norm=batch_norm,
                   name="classifier")(classifier_input)
        outputs = probability_head(keras.layers.Dense(1, name="logit")(deep))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.features = features
        self.embedding_dim = embedding_dim
        self.channels = tuple(channels)
        self.kernel_heights = tuple(kernel_heights)
        self.pooling_sizes = tuple(pooling_sizes)
        self.recombined_channels = tuple(recombined_channels)
        self.share_embedding = share_embedding
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.l2 = l2


@register_model(
    family="fgcnn", task="ranking", model_class=FGCNN,
    inputs=TABULAR_INPUTS,
    paper=Paper("Feature Generation by Convolutional Neural Network for Click-Through Rate Prediction", "1904.04447"),
    defaults=dict(embedding_dim=20, channels=(38, 40, 42, 44), kernel_heights=(9, 9, 9, 9), pooling_sizes=(2, 2, 2, 2),
                  recombined_channels=(3, 3, 3, 3), share_embedding=False, hidden_units=(4096, 2048)),
)
def fgcnn(features, **hparams):
    return FGCNN(features, **hparams)
