"""FiBiNET's Bilinear-Interaction layer: pairwise field interactions through a learned matrix."""
from __future__ import annotations

import itertools
import math

from zoo.backend import keras, tf
from zoo.config import constructor_config

BILINEAR_TYPES = ("field_all", "field_each", "field_interaction")


@keras.saving.register_keras_serializable(package="zoo")
class BilinearInteraction(keras.layers.Layer):
    """Bilinear feature interactions (Huang et al., 2019, arXiv:1905.09433).

    For every pair of fields ``i < j``::

        p_ij = (v_i . W) o v_j

    a Hadamard product after a ``k x k`` projection, finer than the plain inner or Hadamard
    product. Where ``W`` comes from is the ``bilinear_type``:

    - ``"field_all"``: one ``W`` shared by all pairs;
    - ``"field_each"``: one ``W_i`` per left field ``i`` (fields ``1..f-1``: the last field is
      never on the left);
    - ``"field_interaction"``: one ``W_ij`` per pair.

    Input ``[batch, f, k]``, output ``[batch, f(f-1)/2, k]`` (pairs in ``(0,1), (0,2), ...`` order).
    """

    def __init__(self, bilinear_type="field_interaction", **kwargs):
        super().__init__(**kwargs)
        if bilinear_type not in BILINEAR_TYPES:
            raise ValueError(f"bilinear_type must be one of {BILINEAR_TYPES}, got {bilinear_type!r}")
        self.bilinear_type = bilinear_type

    def build(self, input_shape):
        fields, dim = int(input_shape[1]), int(input_shape[2])
        if fields < 2:
            raise ValueError(f"BilinearInteraction needs at least 2 fields, got {fields}")
        pairs = list(itertools.combinations(range(fields), 2))
        self._left = [i for i, _ in pairs]
        self._right = [j for _, j in pairs]
        count = {"field_all": (), "field_each": (fields - 1,), "field_interaction": (len(pairs),)}[self.bilinear_type]
        limit = math.sqrt(3.0 / dim)  # Glorot's bound for one k x k matrix
        self.bilinear_kernel = self.add_weight(
            name="bilinear_kernel", shape=count + (dim, dim),
            initializer=keras.initializers.RandomUniform(-limit, limit),
        )
        super().build(input_shape)

    def call(self, fields):
        left = tf.gather(fields, self._left, axis=1)
        right = tf.gather(fields, self._right, axis=1)
        if self.bilinear_type == "field_all":
            projected = tf.einsum("bpk,kl->bpl", left, self.bilinear_kernel)
        else:
            kernels = self.bilinear_kernel
            if self.bilinear_type == "field_each":
                kernels = tf.gather(kernels, self._left)
            projected = tf.einsum("bpk,pkl->bpl", left, kernels)
        return projected * right

    def get_config(self):
        return constructor_config(self, super().get_config())
