"""One callable SignatureDef of a loaded SavedModel.

Inputs are checked against the SignatureDef (the contract clients see through the metadata API)
before the concrete function runs, so a request that does not fit becomes a 400 with a readable
message rather than a TensorFlow traceback. With batching enabled, checked inputs go through a
``Batcher`` that shares one function call among concurrent requests.
"""
from typing import Mapping

import numpy as np

from serving.batching import Batcher
from serving.config import BatchingParameters
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

    def __init__(self, name: str, signature_def, function, batching: BatchingParameters | None = None,
                 on_batch=None):
        self.name = name
        self.method_name = signature_def.method_name
        self.inputs = _tensor_specs(signature_def.inputs)
        self.outputs = _tensor_specs(signature_def.outputs)
        self._function = function
        batchable = batching is not None and all(
            spec.shape.rank and spec.shape[0] is None for spec in self.inputs.values()
        )
        self._batcher = Batcher(self.run_unbatched, batching, f"batch-{name}", on_batch) if batchable else None

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Feeds ``inputs`` (one array per input name) and returns every output as a numpy array."""
        self._check_names(inputs)
        arrays = {name: self._to_array(name, value) for name, value in inputs.items()}
        return self._batcher.submit(arrays) if self._batcher else self.run_unbatched(arrays)

    def run_unbatched(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call of the function on already checked arrays."""
        try:
            outputs = self._function(**{name: tf.constant(array) for name, array in arrays.items()})
        except _INPUT_ERRORS as error:
            raise InvalidArgument(error.message) from error
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def close(self) -> None:
        """Ends the batch threads once queued requests are answered."""
        if self._batcher:
            self._batcher.stop()

    def _check_names(self, inputs: Mapping[str, np.ndarray]) -> None:
        missing = sorted(set(self.inputs) - set(inputs))
        unknown = sorted(set(inputs) - set(self.inputs))
        if missing or unknown:
            raise InvalidArgument(
                f"signature {self.name!r} takes inputs {sorted(self.inputs)}; "
                f"missing {missing}, unknown {unknown}"
            )

    def _to_array(self, name: str, value: np.ndarray) -> np.ndarray:
        spec = self.inputs[name]
        if not spec.shape.is_compatible_with(np.shape(value)):
            raise InvalidArgument(
                f"input {name!r} has shape {list(np.shape(value))} but signature {self.name!r} "
                f"expects {spec.shape.as_list()}"
            )
        try:
            return tf.constant(value, dtype=spec.dtype).numpy()
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"input {name!r} cannot be converted to {spec.dtype.name}: {error}") from error


def _tensor_specs(tensor_infos) -> dict[str, tf.TensorSpec]:
    """Maps a SignatureDef's TensorInfo map to TensorSpecs, sorted by name for stable output order."""
    return {
        name: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype), name)
        for name, info in sorted(tensor_infos.items())
    }
