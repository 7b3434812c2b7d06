"""A multi-layer perceptron: the deep component of most ranking models."""
from __future__ import annotations

from zoo.backend import keras
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class MLP(keras.layers.Layer):
    """``Dense -> [BatchNorm] -> activation -> [Dropout]`` for each entry of ``hidden_units``.

    Args:
      hidden_units: width of each hidden layer, input side first.
      activation: Keras activation name.
      dropout: dropout rate after each hidden layer (training only).
      batch_norm: batch normalization before the activation.
      l2: L2 penalty on the kernels.
    """

    def __init__(self, hidden_units=(256, 128), activation="relu", dropout=0.0, batch_norm=False, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.activation = activation
        self.dropout = float(dropout)
        self.batch_norm = bool(batch_norm)
        self.l2 = float(l2)
        regularizer = keras.regularizers.l2(self.l2) if self.l2 else None
        # One flat list: Keras' .keras saver does not descend into nested containers.
        self._stack = []
        for units in self.hidden_units:
            self._stack.append(keras.layers.Dense(units, use_bias=not self.batch_norm, kernel_regularizer=regularizer))
            if self.batch_norm:
                self._stack.append(keras.layers.BatchNormalization())
            self._stack.append(keras.layers.Activation(activation))
            if self.dropout:
                self._stack.append(keras.layers.Dropout(self.dropout))

    def call(self, x, training=None):
        for layer in self._stack:
            x = layer(x, training=training)  # layers without a training arg ignore it
        return x

    def get_config(self):
        return constructor_config(self, super().get_config())
