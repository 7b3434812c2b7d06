"""FiBiNET's SENET layer: a learned, input-dependent importance for each field."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class SENetLayer(keras.layers.Layer):
    """Squeeze-Excitation over fields (Huang et al., 2019, arXiv:1905.09433).

    For ``f`` field embeddings ``e_i`` of size ``k``::

        squeeze:    z_i = (1/k) sum_t e_i^(t)                 (mean pooling)
        excitation: a   = ReLU(W_2 ReLU(W_1 z)),  W_1: f -> f/r,  W_2: f/r -> f
        re-weight:  v_i = a_i * e_i

    so a field can be amplified or switched off depending on the whole example. The two fully
    connected layers have no bias, as in the paper's formula.

    Args:
      reduction_ratio: ``r``; the bottleneck has ``max(1, f // r)`` units.

    Input and output ``[batch, f, k]``.
    """

    def __init__(self, reduction_ratio=3, **kwargs):
        super().__init__(**kwargs)
        self.reduction_ratio = int(reduction_ratio)
        if self.reduction_ratio < 1:
            raise ValueError(f"reduction_ratio must be >= 1, got {reduction_ratio}")

    def build(self, input_shape):
        fields = int(input_shape[1])
        reduced = max(1, fields // self.reduction_ratio)
        self.squeeze_kernel = self.add_weight(name="squeeze_kernel", shape=(fields, reduced), initializer="glorot_uniform")
        self.excite_kernel = self.add_weight(name="excite_kernel", shape=(reduced, fields), initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, fields):
        z = tf.reduce_mean(fields, axis=2)
        weights = tf.nn.relu(tf.matmul(tf.nn.relu(tf.matmul(z, self.squeeze_kernel)), self.excite_kernel))
        return fields * weights[:, :, tf.newaxis]

    def get_config(self):
        return constructor_config(self, super().get_config())
