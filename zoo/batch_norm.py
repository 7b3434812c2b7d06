"""Batch-norm settings that are a training recipe rather than part of a model's architecture."""
from __future__ import annotations

from zoo.backend import keras


def set_batch_norm_momentum(model, momentum: float) -> int:
    """Sets the moving-average momentum of every batch norm in ``model`` (nested models included) and
    returns how many there are; call it before the first ``fit``, which traces the update.

    Keras' default, 0.99, keeps ``0.99**n`` of the initial statistics after ``n`` steps: a short run on
    a small data set (a few hundred steps) then evaluates with statistics that never settled, and its
    inference-mode scores can be those of an untrained network (image models; Dice activations, which
    standardize with a batch norm, in DIN). 0.9 (PyTorch's default, which it writes
    0.1) settles in about 50 steps. Not part of the config: it is a training recipe, not the architecture.
    """
    layers = [layer for layer in model.submodules if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


def recompute_batch_norm_statistics(model, batches) -> int:
    """Replaces every batch norm's moving mean and variance in ``model`` by the equal-weight average of
    its batch statistics over ``batches`` (model inputs, without augmentation), computed with the final
    weights; returns how many batches were read. Momenta are left as they were.

    This is "precise BN" (Wu and Johnson, "Rethinking 'Batch' in BatchNorm", arXiv:2105.07576): an
    exponential moving average taken while the weights still move lags behind them, so a short run can
    evaluate far below what its own batch statistics give (digits at 100 steps: 0.87 against 0.98).
    Batch ``i`` is averaged in with momentum ``1 - 1/i``, which makes the running value the plain mean
    of the ``i`` batch statistics (the first batch, at momentum 0, replaces the old statistics).

    The batches run through ``model`` in training mode, so any other training-time update runs too (e.g. a
    ``zoo.layers.MoE`` routing bias): a model without batch norms is not called, and 0 is returned. Not
    recomputed: a batch norm that is not trainable (Keras runs it in inference mode), and
    ``SyncBatchNormalization``, which is not a ``BatchNormalization``. Under a ``tf.distribute`` strategy
    each batch is normalized whole, on one device, where training saw a replica's share of it.
    """
    layers = [layer for layer in model.submodules if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, inputs in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / count
            model(inputs, training=True)  # eager: each call assigns the moving statistics at once
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count
