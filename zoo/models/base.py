"""What every zoo model shares: inputs from a FeatureSpec and config = constructor arguments."""
from __future__ import annotations

from zoo.backend import keras
from zoo.config import constructor_config


class ZooModel(keras.Model):
    """A functional Keras model whose constructor arguments are its config.

    Subclasses build their graph from locals, call ``super().__init__(inputs=..., outputs=...)``
    and then store each constructor argument under its own name (the Keras 2 ordering: no
    attribute may be set before ``Model.__init__``).
    """

    def get_config(self):
        return constructor_config(self, {"name": self.name, "trainable": self.trainable})

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def probability_head(logit):
    """The ranking output: ``sigmoid(logit)``, named as the serving signature's output."""
    return keras.layers.Activation("sigmoid", name="probabilities")(logit)


def flat_fields(fields, dense):
    """Concatenates flattened field embeddings with the dense numeric block: ``x_0`` of most models."""
    return keras.layers.Concatenate(axis=1)([keras.layers.Flatten()(fields), dense])
