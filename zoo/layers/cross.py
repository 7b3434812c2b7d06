"""The cross layer of the original Deep & Cross Network (DCN v1)."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class CrossV1(keras.layers.Layer):
    """One cross layer of DCN (Wang et al., 2017, arXiv:1708.05123)::

        x_{l+1} = x_0 * (x_l^T w_l) + b_l + x_l

    with a weight *vector* ``w_l`` and bias ``b_l`` of the input's size d: 2d parameters per layer,
    and the polynomial degree in ``x_0`` grows by one per layer. (DCN V2 replaces ``w_l`` by a
    matrix; that is ``tfrs.layers.dcn.Cross``.) ``x_0`` and ``x_l`` are ``[batch, d]``; called as
    ``layer(x0, xl)``, the output is ``[batch, d]``.
    """

    def build(self, input_shape):
        dim = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(dim,), initializer="glorot_uniform", trainable=True)
        self.bias = self.add_weight(name="bias", shape=(dim,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, x0, xl):
        projection = tf.reduce_sum(xl * self.kernel, axis=-1, keepdims=True)  # x_l^T w_l: [batch, 1]
        return x0 * projection + self.bias + xl

    def get_config(self):
        return constructor_config(self, super().get_config())
