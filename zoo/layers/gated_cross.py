"""GDCN's gated cross layer: a DCN V2 cross whose every crossed term passes an information gate."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class GatedCross(keras.layers.Layer):
    """One gated cross layer of GDCN (Wang et al., 2023, arXiv:2311.04635, equation 1)::

        c_{l+1} = c_0 * (W^c_l c_l + b_l) * sigmoid(W^g_l c_l) + c_l

    The first factor is DCN V2's full-rank cross of degree l + 2; the gate ``sigmoid(W^g_l c_l)``
    weighs each crossed element by its importance, so deeper layers can suppress the noisy
    high-order crosses that make plain cross networks degrade with depth (the gate has no bias,
    as in the authors' code). Called as ``layer(c0, cl)`` on ``[batch, d]`` tensors; output
    ``[batch, d]``.
    """

    def build(self, input_shape):
        dim = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(dim, dim), initializer="glorot_uniform", trainable=True)
        self.gate_kernel = self.add_weight(name="gate_kernel", shape=(dim, dim), initializer="glorot_uniform",
                                           trainable=True)
        self.bias = self.add_weight(name="bias", shape=(dim,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, c0, cl):
        crossed = tf.matmul(cl, self.kernel) + self.bias
        gate = tf.sigmoid(tf.matmul(cl, self.gate_kernel))
        return c0 * crossed * gate + cl

    def get_config(self):
        return constructor_config(self, super().get_config())
