"""Segmentation losses: Dice, and binary cross-entropy + Dice (the UNet++ paper's loss).

Both take per-pixel probabilities ``[batch, H, W, C]`` (sigmoid for ``C = 1``, softmax otherwise)
and labels either of the same shape or as class ids ``[batch, H, W]`` / ``[batch, H, W, 1]``.
"""
from __future__ import annotations

from zoo.backend import keras, tf


def _dense_targets(y_true, y_pred):
    """Labels as float maps shaped like ``y_pred``: class ids become one-hot when ``C > 1``."""
    classes = y_pred.shape[-1]
    y_true = tf.convert_to_tensor(y_true)
    if classes > 1 and (y_true.shape.rank == y_pred.shape.rank - 1 or y_true.shape[-1] == 1):
        ids = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)
        return tf.one_hot(ids, classes, dtype=y_pred.dtype)
    return tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))


def dice_coefficient(y_true, y_pred, smooth=1.0):
    """Soft Dice per example and class, ``(2 sum(y p) + s) / (sum(y) + sum(p) + s)``, shape ``[batch, C]``."""
    y_true = _dense_targets(y_true, y_pred)
    intersection = tf.reduce_sum(y_true * y_pred, axis=[1, 2])
    total = tf.reduce_sum(y_true, axis=[1, 2]) + tf.reduce_sum(y_pred, axis=[1, 2])
    return (2.0 * intersection + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package="zoo")
class DiceLoss(keras.losses.Loss):
    """``1 - Dice`` averaged over classes, per example (Milletari et al., V-Net, arXiv:1606.04797).

    ``smooth`` keeps the ratio defined (and equal to 1) for an empty mask predicted empty.
    """

    def __init__(self, smooth=1.0, name="dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = smooth

    def call(self, y_true, y_pred):
        return 1.0 - tf.reduce_mean(dice_coefficient(y_true, y_pred, self.smooth), axis=-1)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="zoo")
class BCEDiceLoss(DiceLoss):
    """Cross-entropy + Dice, per example: ``L = mean_pixels CE(y, p) + (1 - Dice(y, p))``.

    UNet++ (Zhou et al., arXiv:1807.10165) trains with this sum (binary cross-entropy for one
    sigmoid channel; categorical cross-entropy over one-hot labels for softmax outputs).
    """

    def __init__(self, smooth=1.0, name="bce_dice", **kwargs):
        super().__init__(smooth=smooth, name=name, **kwargs)

    def call(self, y_true, y_pred):
        targets = _dense_targets(y_true, y_pred)
        if y_pred.shape[-1] == 1:
            cross_entropy = keras.losses.binary_crossentropy(targets, y_pred)  # [batch, H, W]
        else:
            cross_entropy = keras.losses.categorical_crossentropy(targets, y_pred)
        return tf.reduce_mean(cross_entropy, axis=[1, 2]) + super().call(targets, y_pred)
