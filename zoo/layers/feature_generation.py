"""FGCNN's feature generation: convolutions over the field axis, recombined into new fields."""
from __future__ import annotations

import math

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class ConvFeatureGeneration(keras.layers.Layer):
    """The Feature Generation module of FGCNN (Liu et al., 2019, arXiv:1904.04447, section 3.2).

    The field embeddings ``E`` (``[batch, m, k]``) are an image of height ``m``, width ``k`` and
    one channel. Layer ``i`` convolves it along the field axis only, then max-pools and
    recombines::

        C_i = tanh(conv_{(h_i, 1)}(S_{i-1}))      n_i channels, "same" padding: height unchanged
        S_i = maxpool_{(p_i, 1)}(C_i)              height m_i = ceil(m_{i-1} / p_i)
        R_i = tanh(flatten(S_i) W_i + b_i)         reshaped to m_i * r_i new fields of size k

    with ``S_0 = E``. The (h, 1) kernels only mix neighbouring fields within the same embedding
    dimension, which finds local patterns with few parameters; the fully connected recombination
    then combines those local patterns globally into new features. Pooling uses "same" padding,
    so every layer keeps at least one row: any number of fields works.

    Args:
      channels: ``n_i``, the feature maps of each convolution.
      kernel_heights: ``h_i``.
      pooling_sizes: ``p_i``.
      recombined_channels: ``r_i``, new features per pooled row.

    Input ``[batch, m, k]``; output the new fields of all layers, ``[batch, sum_i m_i r_i, k]``.
    """

    def __init__(self, channels=(38, 40, 42, 44), kernel_heights=(9, 9, 9, 9), pooling_sizes=(2, 2, 2, 2),
                 recombined_channels=(3, 3, 3, 3), **kwargs):
        super().__init__(**kwargs)
        self.channels = tuple(int(c) for c in channels)
        self.kernel_heights = tuple(int(h) for h in kernel_heights)
        self.pooling_sizes = tuple(int(p) for p in pooling_sizes)
        self.recombined_channels = tuple(int(r) for r in recombined_channels)
        lengths = {len(self.channels), len(self.kernel_heights), len(self.pooling_sizes), len(self.recombined_channels)}
        if len(lengths) != 1 or not self.channels:
            raise ValueError("channels, kernel_heights, pooling_sizes and recombined_channels must be non-empty "
                             "and of the same length")
        # Flat lists: Keras' .keras saver does not descend into nested containers.
        self._convolutions = [
            keras.layers.Conv2D(c, (h, 1), padding="same", activation="tanh")
            for c, h in zip(self.channels, self.kernel_heights)
        ]
        self._poolings = [keras.layers.MaxPool2D((p, 1), padding="same") for p in self.pooling_sizes]

    def pooled_heights(self, num_fields):
        """``m_1, ..., m_n`` for ``num_fields`` input fields."""
        heights = []
        for pool in self.pooling_sizes:
            num_fields = math.ceil(num_fields / pool)
            heights.append(num_fields)
        return heights

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self._recombinations = [
            keras.layers.Dense(height * r * dim, activation="tanh")
            for height, r in zip(self.pooled_heights(int(input_shape[1])), self.recombined_channels)
        ]
        super().build(input_shape)

    def call(self, fields):
        dim = fields.shape[-1]
        maps, generated = fields[..., tf.newaxis], []
        for convolution, pooling, recombination in zip(self._convolutions, self._poolings, self._recombinations):
            maps = pooling(convolution(maps))
            new = recombination(tf.reshape(maps, [-1, maps.shape[1] * maps.shape[2] * maps.shape[3]]))
            generated.append(tf.reshape(new, [-1, new.shape[-1] // dim, dim]))
        return tf.concat(generated, axis=1)

    def get_config(self):
        return constructor_config(self, super().get_config())
