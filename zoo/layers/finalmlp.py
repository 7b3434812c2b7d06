"""FinalMLP's two plug-in layers: stream-specific feature gating and bilinear stream fusion."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config
from zoo.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="zoo")
class FeatureGating(keras.layers.Layer):
    """Stream-specific feature selection (Mao et al., 2023, arXiv:2304.00902).

    ``g = 2 * sigmoid(MLP(c))`` and the output is ``g o e``: each element of the flattened
    embedding ``e`` is scaled in ``(0, 2)`` (1 = unchanged), so the two MLP streams of FinalMLP
    see differently weighted inputs. The paper conditions ``c`` on chosen feature embeddings;
    without such features it is a learnable context vector, shared by all examples (the authors'
    default), which is what this layer implements. ``c`` starts random, not zero: from zero the
    ReLU hidden layer would start dead and never train.

    Args:
      hidden_units: the gate MLP's hidden layers (ReLU); a final sigmoid layer gives ``g``.
      context_dim: size of the learnable context ``c``.

    Input and output ``[batch, D]``.
    """

    def __init__(self, hidden_units=(800,), context_dim=10, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.context_dim = int(context_dim)
        self._hidden = MLP(self.hidden_units, activation="relu", name="gate_mlp")

    def build(self, input_shape):
        self.context = self.add_weight(name="context", shape=(1, self.context_dim),
                                       initializer=keras.initializers.RandomNormal(stddev=1.0))
        self._gate = keras.layers.Dense(int(input_shape[-1]), activation="sigmoid", name="gate")
        super().build(input_shape)

    def call(self, x):
        return x * (2.0 * self._gate(self._hidden(self.context)))

    def get_config(self):
        return constructor_config(self, super().get_config())


@keras.saving.register_keras_serializable(package="zoo")
class InteractionAggregation(keras.layers.Layer):
    """Multi-head bilinear fusion of two streams (Mao et al., 2023, arXiv:2304.00902).

    For stream outputs ``o_1`` and ``o_2``, each split into ``k`` equal chunks ``o_1^h, o_2^h``::

        y = b + w_1^T o_1 + w_2^T o_2 + sum_{h=1}^{k} (o_1^h)^T W_3^h o_2^h

    The bilinear term captures second-order interactions between the streams; splitting into
    heads cuts ``W_3`` from ``d_1 * d_2`` to ``d_1 * d_2 / k`` parameters. Output ``[batch, 1]``
    (a logit).

    Args:
      num_heads: ``k``; must divide both streams' widths.
    """

    def __init__(self, num_heads=1, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        first, second = (int(shape[-1]) for shape in input_shape)
        if first % self.num_heads or second % self.num_heads:
            raise ValueError(f"num_heads={self.num_heads} must divide both stream widths ({first}, {second})")
        self.first_kernel = self.add_weight(name="first_kernel", shape=(first, 1), initializer="glorot_uniform")
        self.second_kernel = self.add_weight(name="second_kernel", shape=(second, 1), initializer="glorot_uniform")
        self.bilinear_kernel = self.add_weight(
            name="bilinear_kernel", shape=(self.num_heads, first // self.num_heads, second // self.num_heads),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        first, second = inputs
        heads_1 = tf.reshape(first, [-1, self.num_heads, first.shape[-1] // self.num_heads])
        heads_2 = tf.reshape(second, [-1, self.num_heads, second.shape[-1] // self.num_heads])
        bilinear = tf.einsum("bhi,hij,bhj->b", heads_1, self.bilinear_kernel, heads_2)[:, tf.newaxis]
        return self.bias + tf.matmul(first, self.first_kernel) + tf.matmul(second, self.second_kernel) + bilinear

    def get_config(self):
        return constructor_config(self, super().get_config())
