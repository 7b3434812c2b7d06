"""A grouped 2D convolution that trains at ordinary convolution speed on the CPU.

Aggregated Residual Transformations for Deep Neural Networks (Xie et al., 2017, arXiv:1611.05431)
split a convolution's ``C`` input channels into ``G`` groups: group ``g`` of the output,
``y_g = x_g * W_g``, sees only the ``C / G`` input channels ``x_g``, so the kernel holds ``G`` times
fewer weights. Dual Path Networks use it in every block.

TensorFlow has no CPU kernel for the gradient of a grouped convolution, so
``keras.layers.Conv2D(groups=G)`` runs it through an XLA-compiled op instead, which on this 2-core
machine trains 50 to 100 times slower than the same arithmetic done as ``G`` ordinary convolutions
(measured on DPN-shaped maps, 32 groups: 3.1 s against 0.06 s for a step at 8x8x128, 24.7 s against
0.24 s at 16x16x256). This layer computes ``concat_g(x_g * W_g)`` with ordinary convolutions. Its
weights, config and outputs are those of ``keras.layers.Conv2D`` with the same arguments.
On a GPU, where cuDNN has a grouped kernel, the per-group convolutions are likely slower than
Keras' op; that was not measured here.
"""
from __future__ import annotations

from zoo.backend import keras, tf


@keras.saving.register_keras_serializable(package="zoo")
class GroupedConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` (channels last) whose ``groups > 1`` convolution is one ordinary
    convolution per group, concatenated along channels; the kernel's last axis holds the groups'
    filters in order, as Keras lays them out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.data_format != "channels_last":
            raise ValueError(f"GroupedConv2D supports channels_last only, got data_format={self.data_format!r}")

    def call(self, inputs):
        if self.groups == 1:
            return super().call(inputs)
        outputs = tf.concat([
            self.convolution_op(group_inputs, group_kernel)
            for group_inputs, group_kernel in zip(tf.split(inputs, self.groups, axis=-1),
                                                  tf.split(self.kernel, self.groups, axis=-1))
        ], axis=-1)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)
