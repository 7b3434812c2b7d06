"""Keras config plumbing shared by every zoo layer and model.

A zoo object's constructor arguments are its config (keras-hub style): each class stores every
constructor argument under an attribute of the same name, and ``constructor_config`` reads
them back, so a new argument cannot be forgotten in ``get_config``. ``ConfiguredModel`` is the
base of every zoo model.
"""
from __future__ import annotations

import inspect
from typing import Any

from zoo.backend import keras
from zoo.features import FeatureSpec

_KERAS_OWNED = {"self", "kwargs", "name", "trainable", "dtype"}


def constructor_config(obj: Any, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (Keras' own config: name, trainable, dtype) plus every constructor argument."""
    config = {key: base[key] for key in ("name", "trainable", "dtype") if key in base}
    for param in inspect.signature(type(obj).__init__).parameters:
        if param in _KERAS_OWNED:
            continue
        value = getattr(obj, param)
        config[param] = value.to_config() if isinstance(value, FeatureSpec) else _jsonable(value)
    return config


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):  # also Keras' tracking wrapper of a dict attribute, which json cannot write
        return {key: _jsonable(v) for key, v in value.items()}
    return value


class ConfiguredModel(keras.Model):
    """A Keras model whose constructor arguments are its config, and whose optimizer is built at compile.

    Subclasses build their graph from locals, call ``super().__init__(inputs=..., outputs=...)`` and then
    store each constructor argument under its own name (the Keras 2 ordering: no attribute may be set
    before ``Model.__init__``).
    """

    def get_config(self):
        return constructor_config(self, {"name": self.name, "trainable": self.trainable})

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def compile(self, *args, **kwargs):
        """``keras.Model.compile``, then the optimizer's slot variables, in the model's strategy scope.

        Keras creates them in the first train step otherwise, and ``tf.function`` traces a step that
        creates variables twice: building them here halves the cost of compiling the train step. (Legacy
        ``keras.optimizers.legacy`` optimizers have no ``build`` and keep Keras' own behaviour.)
        """
        super().compile(*args, **kwargs)
        if isinstance(self.optimizer, keras.optimizers.Optimizer):
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)
