"""One callable SignatureDef of a loaded SavedModel.

Inputs are checked against the SignatureDef (the contract clients see through the metadata API)
before the concrete function runs, so a request that does not fit becomes a 400 with a readable
message rather than a TensorFlow traceback.
"""
from typing import Mapping

import numpy as np

from serving.errors import InvalidArgument
from zoo.backend import tf

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

# Errors a signature raises when the values it was fed are at fault (e.g. an unparsable tf.Example).
_INPUT_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError)


class Signature:
    """A SignatureDef plus the concrete function that computes it."""

    def __init__(self, name: str, signature_def, function):
        self.name = name
        self.method_name = signature_def.method_name
        self.inputs = _tensor_specs(signature_def.inputs)
        self.outputs = _tensor_specs(signature_def.outputs)
        self._function = function

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Feeds ``inputs`` (one array per input name) and returns every output as a numpy array."""
        self._check_names(inputs)
        tensors = {name: self._to_tensor(name, value) for name, value in inputs.items()}
        try:
            outputs = self._function(**tensors)
        except _INPUT_ERRORS as error:
            raise InvalidArgument(error.message) from error
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def _check_names(self, inputs: Mapping[str, np.ndarray]) -> None:
        missing = sorted(set(self.inputs) - set(inputs))
        unknown = sorted(set(inputs) - set(self.inputs))
        if missing or unknown:
            raise InvalidArgument(
                f"signature {self.name!r} takes inputs {sorted(self.inputs)}; "
                f"missing {missing}, unknown {unknown}"
            )

    def _to_tensor(self, name: str, value: np.ndarray):
        spec = self.inputs[name]
        if not spec.shape.is_compatible_with(np.shape(value)):
            raise InvalidArgument(
                f"input {name!r} has shape {list(np.shape(value))} but signature {self.name!r} "
                f"expects {spec.shape.as_list()}"
            )
        try:
            return tf.constant(value, dtype=spec.dtype)
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"input {name!r} cannot be converted to {spec.dtype.name}: {error}") from error


def _tensor_specs(tensor_infos) -> dict[str, tf.TensorSpec]:
    """Maps a SignatureDef's TensorInfo map to TensorSpecs, sorted by name for stable output order."""
    return {
        name: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype), name)
        for name, info in sorted(tensor_infos.items())
    }
