"""FCN's cross layer: half-width crossing plus a Self-Mask view that drops about half of it."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class SelfMaskCross(keras.layers.Layer):
    """One cross layer of FCN's LCN and ECN (Li et al., 2024, arXiv:2407.13349, section 3.2)::

        c_l       = W_l x_l + b_l                          W_l: [D/2, D], b_l: [D/2]
        Mask(c_l) = c_l * max(0, LN(c_l))
        x_{l+1}   = a * [c_l || Mask(c_l)] + x_l

    ``W_l`` projects to half the width and the Self-Mask view fills the other half, so a layer
    has half of DCN V2's parameters. Layer normalization centres ``c_l``, so the ReLU zeroes
    about half of the masked view: the noise filter. The anchor ``a`` decides the growth of the
    interaction order: ``a = x_1`` (the embeddings) adds one order per layer (LCN), ``a = x_l``
    doubles it (ECN). Called as ``layer(anchor, xl)`` on ``[batch, D]`` tensors with D even;
    output ``[batch, D]``.

    Args:
      epsilon: the layer normalization's epsilon (PyTorch's default, as in the authors' code).
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.layer_norm = keras.layers.LayerNormalization(epsilon=self.epsilon)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % 2:
            raise ValueError(f"SelfMaskCross needs an even input width, got {dim}")
        self.kernel = self.add_weight(name="kernel", shape=(dim, dim // 2), initializer="glorot_uniform",
                                      trainable=True)
        self.bias = self.add_weight(name="bias", shape=(dim // 2,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, anchor, xl):
        cross = tf.matmul(xl, self.kernel) + self.bias
        masked = cross * tf.nn.relu(self.layer_norm(cross))
        return anchor * tf.concat([cross, masked], axis=-1) + xl

    def get_config(self):
        return constructor_config(self, super().get_config())
