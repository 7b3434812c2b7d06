"""The one place that imports Keras: everything else uses ``from zoo.backend import keras, tf``."""
from zoo import _env  # noqa: F401  (must run before tensorflow is imported)

import tensorflow as tf
import tf_keras as keras

__all__ = ["keras", "tf"]
