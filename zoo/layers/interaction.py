"""Explicit feature-interaction layers."""
from __future__ import annotations

from zoo.backend import keras, tf
from zoo.config import constructor_config


@keras.saving.register_keras_serializable(package="zoo")
class FactorizationMachine(keras.layers.Layer):
    """The pairwise term of a Factorization Machine (Rendle, ICDM 2010).

    For field embeddings ``v_i`` (each already multiplied by its feature value)::

        sum_{i<j} <v_i, v_j> = 1/2 * sum_k [ (sum_i v_ik)^2 - sum_i v_ik^2 ]

    computed in O(F*k) instead of O(F^2*k). Input ``[batch, fields, k]``, output ``[batch, 1]``.
    """

    def call(self, fields):
        square_of_sum = tf.square(tf.reduce_sum(fields, axis=1))
        sum_of_squares = tf.reduce_sum(tf.square(fields), axis=1)
        return 0.5 * tf.reduce_sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)

    def get_config(self):
        return constructor_config(self, super().get_config())
