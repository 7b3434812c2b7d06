"""Self-attention over feature fields: AutoInt's interacting layer."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class InteractingLayer(keras.layers.Layer):
    """One AutoInt interacting layer (Song et al., 2019, arXiv:1810.11921).

    Every field ``e_m`` attends to every field ``e_k``, one head ``h`` at a time::

        alpha^h_{m,k} = softmax_k( <W^h_Q e_m, W^h_K e_k> )
        e~^h_m        = sum_k alpha^h_{m,k} W^h_V e_k
        e^Res_m       = ReLU( [e~^1_m, ..., e~^H_m] + W_Res e_m )

    so stacking ``L`` layers models interactions of order up to ``L + 1`` explicitly, with the
    attention weights telling which fields were combined. The paper's score is the plain inner
    product: no ``1/sqrt(d')`` scaling (the authors' code adds it, and a layer norm; the paper
    does not). ``W_Res`` projects ``e_m`` to the output width, which differs from the input's.

    Args:
      num_heads: ``H``.
      attention_dim: ``d'``, the width of each head; the output has ``H * d'`` per field.
      use_residual: add ``W_Res e_m`` before the ReLU.

    Input ``[batch, fields, d]``, output ``[batch, fields, num_heads * attention_dim]``.
    """

    def __init__(self, num_heads=2, attention_dim=32, use_residual=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.attention_dim = int(attention_dim)
        self.use_residual = bool(use_residual)

    def build(self, input_shape):
        width = self.num_heads * self.attention_dim
        d = int(input_shape[-1])
        self.query = self.add_weight(name="query", shape=(d, width), initializer="glorot_uniform")
        self.key = self.add_weight(name="key", shape=(d, width), initializer="glorot_uniform")
        self.value = self.add_weight(name="value", shape=(d, width), initializer="glorot_uniform")
        if self.use_residual:
            self.residual = self.add_weight(name="residual", shape=(d, width), initializer="glorot_uniform")
        super().build(input_shape)

    def _heads(self, fields, kernel):
        """``[batch, fields, d] -> [batch, heads, fields, d']``."""
        projected = tf.einsum("bfd,dw->bfw", fields, kernel)
        split = tf.reshape(projected, [-1, fields.shape[1], self.num_heads, self.attention_dim])
        return tf.transpose(split, [0, 2, 1, 3])

    def call(self, fields):
        queries, keys, values = (self._heads(fields, k) for k in (self.query, self.key, self.value))
        attention = tf.nn.softmax(tf.einsum("bhmd,bhkd->bhmk", queries, keys), axis=-1)
        attended = tf.einsum("bhmk,bhkd->bhmd", attention, values)
        output = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]),
                            [-1, fields.shape[1], self.num_heads * self.attention_dim])
        if self.use_residual:
            output += tf.einsum("bfd,dw->bfw", fields, self.residual)
        return tf.nn.relu(output)

    def get_config(self):
        return constructor_config(self, super().get_config())
