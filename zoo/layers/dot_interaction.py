"""DLRM's feature interaction: dot products between every pair of vectors."""
from __future__ import annotations

import numpy as np

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class DotInteraction(keras.layers.Layer):
    """The pairwise dot products of DLRM (Naumov et al., 2019, arXiv:1906.00091, section 2.1.3).

    For vectors ``e_1 .. e_n`` (``[batch, n, d]``), returns ``[<e_i, e_j> for i < j]`` in row-major
    order: the strictly upper triangle of ``E E^T``, ``[batch, n (n - 1) / 2]``. A vector's dot
    product with itself is left out, as in the paper. (``tfrs``' ``DotInteraction`` computes the same
    products, but takes a list of tensors and is not registered for Keras serialization.)
    """

    def call(self, vectors):
        n = vectors.shape[1]
        rows, cols = np.triu_indices(n, k=1)
        gram = tf.matmul(vectors, vectors, transpose_b=True)  # [batch, n, n]
        return tf.gather(tf.reshape(gram, [-1, n * n]), rows * n + cols, axis=1)

    def get_config(self):
        return constructor_config(self, super().get_config())
