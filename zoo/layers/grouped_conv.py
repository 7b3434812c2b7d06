"""A grouped 2D convolution that trains at ordinary convolution speed on the CPU.

Aggregated Residual Transformations for Deep Neural Networks (Xie et al., 2017, arXiv:1611.05431)
split a convolution's ``C`` input channels into ``G`` groups: group ``g`` of the output,
``y_g = x_g * W_g``, sees only the ``C / G`` input channels ``x_g``, so the kernel holds ``G`` times
fewer weights. Dual Path Networks use it in every block.

TensorFlow has no CPU kernel for the gradient of a grouped convolution, so
``keras.layers.Conv2D(groups=G)`` runs it through an XLA-compiled op instead, which on this 2-core
machine trains 50 to 100 times slower than the same arithmetic done as ``G`` ordinary convolutions
(one layer's forward and backward pass on DPN-shaped maps, 32 groups, batch 64: 3.1 s against 0.06 s
at 8x8x128, 24.7 s against 0.24 s at 16x16x256; a whole dpn68 training step at 32x32, batch 64, on one
core: 37.6 s against 4.4 s). Without a GPU this layer computes ``concat_g(x_g * W_g)`` with ordinary
convolutions; with one, where cuDNN has a grouped kernel, it is Keras' op. Either way its weights,
config and outputs are those of ``keras.layers.Conv2D`` with the same arguments. The choice is made when
the layer is traced, so a SavedModel keeps the form of the machine that exported it (both are correct
everywhere). It is registered, so a saved model loads without custom objects once zoo is imported.
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
        if self.groups == 1 or tf.config.list_logical_devices("GPU"):
            return super().call(inputs)
        outputs = tf.concat([
            self.convolution_op(group_inputs, group_kernel)
            for group_inputs, group_kernel in zip(tf.split(inputs, self.groups, axis=-1),
                                                  tf.split(self.kernel, self.groups, axis=-1))
        ], axis=-1)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        return outputs if self.activation is None else self.activation(outputs)
