"""Keras config plumbing shared by every zoo layer and model.

A zoo object's constructor arguments are its config (keras-hub style): each class stores every
constructor argument under an attribute of the same name, and ``constructor_config`` reads
them back, so a new argument cannot be forgotten in ``get_config``.
"""
from __future__ import annotations

import inspect
from typing import Any

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
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
