"""The gate that multi-task models (MMoE, PLE) put between shared experts and each task."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class GatedMixture(keras.layers.Layer):
    """A gating network over expert outputs (Ma et al., KDD 2018: MMoE; PLE's gates too).

    For a gate input ``x`` and expert outputs ``f_1(x), ..., f_E(x)``::

        g(x) = softmax(W_g x),   W_g in R^{E x d}
        y    = sum_{i=1}^{E} g(x)_i f_i(x)

    As in the paper the gate is linear with no bias. MMoE has one such gate per task over the
    same experts; PLE's gates mix a task's own experts with the shared ones.

    Called on ``[gate_input [batch, d], experts [batch, E, u]]``; output ``[batch, u]``.
    """

    def __init__(self, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l2 = float(l2)

    def build(self, input_shape):
        gate_shape, experts_shape = input_shape
        self.kernel = self.add_weight(
            name="kernel", shape=(int(gate_shape[-1]), int(experts_shape[1])), initializer="glorot_uniform",
            regularizer=keras.regularizers.l2(self.l2) if self.l2 else None)
        super().build(input_shape)

    def call(self, inputs):
        gate_input, experts = inputs
        weights = tf.nn.softmax(tf.matmul(gate_input, self.kernel), axis=-1)
        return tf.einsum("be,beu->bu", weights, experts)

    def get_config(self):
        return constructor_config(self, super().get_config())
