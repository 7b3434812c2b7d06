"""What every zoo model shares: inputs from a FeatureSpec and config = constructor arguments."""
from __future__ import annotations

from zoo.backend import keras
from zoo.config import ConfiguredModel


TABULAR_INPUTS = {"categorical": "required", "numeric": "optional", "sequence": "optional"}
"""What a model on schema features accepts: ids required, dense and multi-valued features pooled in."""


class ZooModel(ConfiguredModel):
    """A functional Keras model on schema features (a ``FeatureSpec``)."""


def probability_head(logit):
    """The ranking output: ``sigmoid(logit)``, named as the serving signature's output."""
    return keras.layers.Activation("sigmoid", name="probabilities")(logit)


def flat_fields(fields, dense):
    """Concatenates flattened field embeddings with the dense numeric block: ``x_0`` of most models."""
    return keras.layers.Concatenate(axis=1)([keras.layers.Flatten()(fields), dense])


CROSS_STRUCTURES = ("stacked", "parallel")


def cross_and_deep_logit(x0, cross_layers, deep, structure):
    """The DCN-style top shared by the cross-network models.

    ``cross_layers`` are applied as ``x_{l+1} = layer(x_0, x_l)``. "stacked" feeds the cross
    network's output to the ``deep`` MLP; "parallel" runs both on ``x_0`` and concatenates them.
    A linear unit gives the logit.
    """
    if structure not in CROSS_STRUCTURES:
        raise ValueError(f"structure must be one of {CROSS_STRUCTURES}, got {structure!r}")
    crossed = x0
    for layer in cross_layers:
        crossed = layer(x0, crossed)
    top = deep(crossed) if structure == "stacked" else keras.layers.Concatenate(name="cross_and_deep")(
        [crossed, deep(x0)])
    return keras.layers.Dense(1, name="logit")(top)
