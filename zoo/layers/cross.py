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


@keras.saving.register_keras_serializable(package="zoo")
class CrossMix(keras.layers.Layer):
    """A mixture of low-rank cross experts: DCN-Mix, from DCN V2 (Wang et al., 2020, arXiv:2008.13535)::

        E_i(x_l) = x_0 * (U_i g(C_i g(V_i^T x_l)) + b_i)            (expert i, rank r)
        x_{l+1}  = sum_i softmax_i(w_i^T x_l) E_i(x_l) + x_l

    ``V_i, U_i`` are ``d x r`` and ``C_i`` is ``r x r``: each expert learns crosses in its own
    r-dimensional subspace and a gate ``w_i`` weighs the experts per example. ``g`` is
    ``activation`` (the paper's nonlinearity in the projected space). Called as ``layer(x0, xl)``.
    """

    def __init__(self, num_experts=4, low_rank=32, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        if num_experts < 1 or low_rank < 1:
            raise ValueError("num_experts and low_rank must be positive")
        self.num_experts = int(num_experts)
        self.low_rank = int(low_rank)
        self.activation = activation
        self._g = keras.activations.get(activation)

    def build(self, input_shape):
        dim, experts, rank = input_shape[-1], self.num_experts, self.low_rank
        self.v = self.add_weight(name="v", shape=(experts, dim, rank), initializer="glorot_uniform")
        self.c = self.add_weight(name="c", shape=(experts, rank, rank), initializer="glorot_uniform")
        self.u = self.add_weight(name="u", shape=(experts, rank, dim), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(experts, dim), initializer="zeros")
        self.gate = self.add_weight(name="gate", shape=(dim, experts), initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, x0, xl):
        projected = self._g(tf.einsum("bd,edr->ber", xl, self.v))  # [batch, experts, rank]
        mixed = self._g(tf.einsum("ber,ers->bes", projected, self.c))
        experts = x0[:, tf.newaxis, :] * (tf.einsum("bes,esd->bed", mixed, self.u) + self.bias)
        weights = tf.nn.softmax(tf.matmul(xl, self.gate), axis=-1)  # [batch, experts]
        return tf.einsum("be,bed->bd", weights, experts) + xl

    def get_config(self):
        return constructor_config(self, super().get_config())
