"""The memory-efficient DenseNet bottleneck input: concatenation, batch norm and ReLU recomputed in the
backward pass instead of stored.

Memory-Efficient Implementation of DenseNets (Pleiss et al., 2017, arXiv:1707.06990): layer ``l`` of a
dense block reads ``BN-ReLU([x_0, ..., x_{l-1}])``, whose concatenation and normalization are as large as
everything before it, so storing them for the backward pass costs memory quadratic in the block's depth.
Recomputing them from the ``x_i`` (which are stored anyway) makes it linear, for one more forward pass of
these cheap operations per step.
"""
from __future__ import annotations

from zoo.backend import keras, tf


@keras.saving.register_keras_serializable(package="zoo")
class RecomputedBottleneckInput(keras.layers.Layer):
    """``conv1x1(relu(BN(concat(maps))))`` with the first three recomputed in the backward pass.

    At training time the batch statistics ``mu, sigma^2`` of the concatenation normalize it,
    ``gamma (x - mu) / sqrt(sigma^2 + epsilon) + beta``, and update the moving averages
    ``m <- momentum * m + (1 - momentum) * mu`` (and the same for ``sigma^2 n / (n - 1)``, over ``n``
    values per channel, as Keras' fused batch norm does) once per step: the
    update sits outside the recomputed function, which is free of side effects and can run twice. At
    inference the moving averages normalize, as in ``keras.layers.BatchNormalization``, whose variables
    (``norm``) it keeps, so ``set_batch_norm_momentum`` and weight copies treat it as one.

    Args:
      filters: the 1x1 convolution's output channels.
      epsilon: the batch norm's ``epsilon``.
    """

    def __init__(self, filters: int, epsilon: float = 1.001e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.epsilon = epsilon
        self.norm = keras.layers.BatchNormalization(epsilon=epsilon, name="bn")
        self.conv = keras.layers.Conv2D(filters, 1, use_bias=False, name="conv")

    def build(self, input_shapes):
        shape = tf.TensorShape(input_shapes[0])[:-1].concatenate([sum(int(s[-1]) for s in input_shapes)])
        self.norm.build(shape)
        self.conv.build(shape)
        super().build(input_shapes)

    def _normalized_conv(self, *maps):
        x = tf.concat(maps, axis=-1)
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        y = tf.nn.batch_normalization(x, mean, variance, self.norm.beta, self.norm.gamma, self.epsilon)
        return self.conv(tf.nn.relu(y)), mean, variance

    def call(self, maps, training=None):
        if not training:
            return self.conv(tf.nn.relu(self.norm(tf.concat(maps, axis=-1), training=False)))
        outputs, mean, variance = tf.recompute_grad(self._normalized_conv)(*maps)
        # Keras' fused batch norm (4-D inputs) averages the unbiased variance, so this does too.
        count = tf.cast(tf.reduce_prod(tf.shape(maps[0])[:-1]), variance.dtype)
        momentum = self.norm.momentum
        for moving, batch in ((self.norm.moving_mean, mean), (self.norm.moving_variance, variance * count / (count - 1))):
            moving.assign(momentum * moving + (1 - momentum) * tf.stop_gradient(batch))
        return outputs

    def compute_output_shape(self, input_shapes):
        return tf.TensorShape(input_shapes[0])[:-1].concatenate([self.filters])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "epsilon": self.epsilon}
