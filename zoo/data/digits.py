"""scikit-learn's handwritten digits (UCI optical recognition, 1,797 8x8 images, 10 classes) as images.

It ships inside scikit-learn, so it is a real labelled image set available offline.
"""
from __future__ import annotations

import numpy as np


def load(size: int = 32, test_fraction: float = 0.2, seed: int = 0):
    """``(train_images, train_labels), (test_images, test_labels)``: images float32 ``[n, size, size, 1]``
    in [0, 1] (pixel values / 16, upsampled by pixel repetition), labels int64 ``[n]``; a stratified
    split fixed by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    if size % 8:
        raise ValueError(f"size must be a multiple of 8, got {size}")
    factor = size // 8
    images = np.repeat(np.repeat(digits.images / 16.0, factor, axis=1), factor, axis=2).astype(np.float32)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(images, digits.target.astype(np.int64),
                                                        test_size=test_fraction, stratify=digits.target,
                                                        random_state=seed)
    return (x_train, y_train), (x_test, y_test)
