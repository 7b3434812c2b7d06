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
