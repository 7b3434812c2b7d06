"""xDeepFM's Compressed Interaction Network: explicit vector-wise interactions of bounded degree."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class CIN(keras.layers.Layer):
    """Compressed Interaction Network (Lian et al., 2018, arXiv:1803.05170).

    With the field embeddings ``X^0`` (``m`` fields of size ``D``), layer ``k`` has ``H_k``
    feature maps, each a weighted sum of the Hadamard products of the previous layer's maps with
    the input fields::

        X^k_{h,*} = sum_{i=1}^{H_{k-1}} sum_{j=1}^{m} W^{k,h}_{ij} (X^{k-1}_{i,*} o X^0_{j,*})

    so layer ``k`` holds interactions of degree ``k + 1`` at the vector level. Each layer's maps
    are sum-pooled over the embedding dimension, ``p^k_h = sum_d X^k_{h,d}``, and the output is
    ``p^+ = [p^1, ..., p^T]`` (the model puts a linear unit on it). As in the paper's
    formula there is no bias and no non-linearity.

    ``split_half`` (the authors' released configuration): every layer but the last sends half of
    its maps on to the next layer and the other half to the output, halving the cost.

    Args:
      layer_sizes: ``H_1, ..., H_T``; with ``split_half`` all but the last must be even.
      split_half: see above.

    Input ``[batch, m, D]``, output ``[batch, sum of the pooled map counts]``.
    """

    def __init__(self, layer_sizes=(200, 200, 200), split_half=True, **kwargs):
        super().__init__(**kwargs)
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.split_half = bool(split_half)
        if not self.layer_sizes:
            raise ValueError("CIN needs at least one layer")
        if self.split_half and any(s % 2 for s in self.layer_sizes[:-1]):
            raise ValueError(f"with split_half every layer size but the last must be even, got {self.layer_sizes}")

    def _forwarded(self, index):
        """How many of layer ``index``'s maps go on to the next layer (and to the output)."""
        size = self.layer_sizes[index]
        return size // 2 if self.split_half and index < len(self.layer_sizes) - 1 else size

    def build(self, input_shape):
        fields = int(input_shape[1])
        previous = fields
        self.kernels = []  # flat list: W^k reshaped to [H_{k-1} * m, H_k]
        for k, size in enumerate(self.layer_sizes):
            self.kernels.append(self.add_weight(name=f"kernel_{k}", shape=(previous * fields, size),
                                                initializer="glorot_uniform"))
            previous = self._forwarded(k)
        super().build(input_shape)

    def call(self, x0):
        fields, dim = x0.shape[1], x0.shape[2]
        hidden, pooled = x0, []
        for k, kernel in enumerate(self.kernels):
            products = tf.einsum("bid,bjd->bijd", hidden, x0)
            products = tf.reshape(products, [-1, hidden.shape[1] * fields, dim])
            maps = tf.einsum("bqd,qh->bhd", products, kernel)
            forwarded = self._forwarded(k)
            if forwarded < self.layer_sizes[k]:
                hidden, out = maps[:, :forwarded], maps[:, forwarded:]
            else:
                hidden, out = maps, maps
            pooled.append(tf.reduce_sum(out, axis=2))
        return tf.concat(pooled, axis=1)

    def get_config(self):
        return constructor_config(self, super().get_config())
