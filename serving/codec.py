"""TF Serving's JSON encoding: request bodies to arrays and tf.Examples, results back to JSON.

Follows https://www.tensorflow.org/tfx/serving/api_rest: row ("instances") and columnar
("inputs") tensors, ``{"b64": ...}`` for binary strings, ``NaN``/``Infinity`` tokens for
non-finite floats, and the ``predictions`` / ``outputs`` / ``results`` response keys.
"""
import base64
import binascii
import enum
import json
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.errors import InvalidArgument
from serving.signature import DEFAULT_SIGNATURE
from zoo.backend import tf

BASE64_KEY = "b64"
# TF Serving's rule: string outputs whose name ends with this are binary and always sent as b64.
BYTES_SUFFIX = "_bytes"


class RequestFormat(enum.Enum):
    """How a predict request laid out its tensors; the response mirrors it."""

    ROW = "instances"
    COLUMNAR = "inputs"


def parse_request_body(body: bytes) -> dict[str, Any]:
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidArgument(f"JSON Parse error: {error}") from error
    if not isinstance(request, dict):
        raise InvalidArgument("JSON Parse error: the request body must be a JSON object")
    return request


def signature_name(request: Mapping[str, Any]) -> str:
    """The requested signature; an absent or empty name means the default one, as in TF Serving."""
    name = request.get("signature_name", "")
    if not isinstance(name, str):
        raise InvalidArgument("'signature_name' key must be a string value.")
    return name or DEFAULT_SIGNATURE


# ---------------------------------------------------------------------------------------------
# predict


def decode_predict_request(
    request: Mapping[str, Any], input_specs: Mapping[str, tf.TensorSpec]
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """Builds one array per signature input, typed as the signature declares."""
    has_rows, has_columns = RequestFormat.ROW.value in request, RequestFormat.COLUMNAR.value in request
    if has_rows == has_columns:
        raise InvalidArgument("the request must have exactly one of the keys 'instances' or 'inputs'")
    if has_rows:
        columns = _columns_from_instances(request[RequestFormat.ROW.value], input_specs)
        request_format = RequestFormat.ROW
    else:
        columns = _columns_from_inputs(request[RequestFormat.COLUMNAR.value], input_specs)
        request_format = RequestFormat.COLUMNAR
    arrays = {name: _to_array(value, input_specs[name].dtype, name) for name, value in columns.items()}
    return arrays, request_format


def _columns_from_instances(instances: Any, input_specs: Mapping[str, tf.TensorSpec]) -> dict[str, list]:
    """Turns row-format instances into one nested list per input (the batch is the first axis)."""
    if not isinstance(instances, list) or not instances:
        raise InvalidArgument("'instances' must be a non-empty list")
    if not _is_named_object(instances[0]):
        if any(_is_named_object(instance) for instance in instances):
            raise InvalidArgument("'instances' mixes objects with plain values")
        return {_single_input(input_specs, "instances"): instances}
    for index, instance in enumerate(instances):
        if not _is_named_object(instance) or set(instance) != set(input_specs):
            raise InvalidArgument(
                f"instances[{index}] must be an object with exactly the keys {sorted(input_specs)}"
            )
    return {name: [instance[name] for instance in instances] for name in input_specs}


def _columns_from_inputs(inputs: Any, input_specs: Mapping[str, tf.TensorSpec]) -> dict[str, Any]:
    if not _is_named_object(inputs):
        return {_single_input(input_specs, "inputs"): inputs}
    missing = sorted(set(input_specs) - set(inputs))
    unknown = sorted(set(inputs) - set(input_specs))
    if missing or unknown:
        raise InvalidArgument(
            f"'inputs' must have the keys {sorted(input_specs)}; missing {missing}, unknown {unknown}"
        )
    return dict(inputs)


def _single_input(input_specs: Mapping[str, tf.TensorSpec], key: str) -> str:
    if len(input_specs) != 1:
        raise InvalidArgument(
            f"'{key}' holds plain values, but the signature has {len(input_specs)} inputs "
            f"{sorted(input_specs)}: name them with objects"
        )
    return next(iter(input_specs))


def encode_predict_response(outputs: Mapping[str, np.ndarray], request_format: RequestFormat) -> dict[str, Any]:
    """One output is written bare; several are keyed by name (per row for the row format)."""
    if not outputs:
        raise InvalidArgument("the signature returned no outputs")
    if request_format is RequestFormat.ROW:
        _check_batch_sizes(outputs)
    encoded = {name: _tensor_to_json(name, array) for name, array in sorted(outputs.items())}
    if request_format is RequestFormat.COLUMNAR:
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    rows = len(next(iter(encoded.values())))
    return {"predictions": [{name: values[row] for name, values in encoded.items()} for row in range(rows)]}


def _check_batch_sizes(outputs: Mapping[str, np.ndarray]) -> None:
    """Row responses split every output along axis 0, so all outputs need the same batch size."""
    for name, array in outputs.items():
        if array.ndim == 0:
            raise InvalidArgument(f"output {name!r} is a scalar and cannot be split into rows; use 'inputs'")
    sizes = {name: array.shape[0] for name, array in outputs.items()}
    if len(set(sizes.values())) > 1:
        raise InvalidArgument(f"outputs have different batch sizes {sizes}; use 'inputs'")


def _tensor_to_json(name: str, array: np.ndarray) -> Any:
    """A tensor as nested JSON lists; float32 values use their shortest exact decimal (0.1, not 0.100000001)."""
    dtype = tf.as_dtype(array.dtype)
    if dtype == tf.string:
        as_b64 = name.endswith(BYTES_SUFFIX)
        return _map_nested(lambda value: _bytes_to_json(value, as_b64), array.tolist())
    if dtype == tf.float64:
        return array.tolist()
    if dtype.is_floating:
        return _float32_to_json(array)
    if dtype.is_integer or dtype == tf.bool:
        return array.tolist()
    raise InvalidArgument(f"output {name!r} has dtype {dtype.name}, which has no JSON encoding")


def _float32_to_json(array: np.ndarray) -> Any:
    # numpy prints float32 with the fewest digits that round-trip; parsing that text as a Python
    # float keeps json from writing the float32's full binary expansion.
    return array.astype(np.float32).astype(str).astype(np.float64).tolist()


def _bytes_to_json(value: bytes, as_b64: bool) -> str | dict[str, str]:
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: fall through to b64 so the response stays valid JSON
    return {BASE64_KEY: base64.b64encode(value).decode("ascii")}


def _map_nested(function: Callable[[Any], Any], nested: Any) -> Any:
    if isinstance(nested, list):
        return [_map_nested(function, item) for item in nested]
    return function(nested)


# ---------------------------------------------------------------------------------------------
# JSON values to arrays


def _to_array(value: Any, dtype: tf.DType, name: str) -> np.ndarray:
    """Converts a (nested) JSON value to an array of ``dtype``, rejecting ragged lists and wrong types."""
    shape = _nested_shape(value)
    leaves = _leaves(value, shape, name)
    convert = _leaf_converter(dtype)
    try:
        converted = [convert(leaf) for leaf in leaves]
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"input {name!r}: {error}") from error
    return np.array(converted, dtype=dtype.as_numpy_dtype).reshape(shape)


def _nested_shape(value: Any) -> list[int]:
    """The shape implied by following the first element of each nested list."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _leaves(value: Any, shape: Sequence[int], name: str) -> list[Any]:
    """The leaf values in row-major order, checking every nested list matches ``shape``."""
    level = [value]
    for size in shape:
        next_level = []
        for item in level:
            if not isinstance(item, list) or len(item) != size:
                raise _ragged(name, shape)
            next_level.extend(item)
        level = next_level
    if any(isinstance(leaf, list) for leaf in level):
        raise _ragged(name, shape)
    return level


def _ragged(name: str, shape: Sequence[int]) -> InvalidArgument:
    return InvalidArgument(
        f"input {name!r} is a ragged list: its first elements imply shape {list(shape)}, "
        "but other lists differ in length or depth"
    )


def _leaf_converter(dtype: tf.DType) -> Callable[[Any], Any]:
    if dtype == tf.string:
        return _decode_string
    if dtype == tf.bool:
        return lambda value: _require(value, isinstance(value, bool), dtype)
    if dtype.is_integer:
        return lambda value: _to_int(value, dtype)
    if dtype.is_floating:
        return lambda value: _to_float(value, dtype)
    raise InvalidArgument(f"inputs of dtype {dtype.name} cannot be sent as JSON")


def _require(value: Any, ok: bool, dtype: tf.DType) -> Any:
    if not ok:
        raise TypeError(f"JSON value {json.dumps(value)} is not of expected type {dtype.name}")
    return value


def _to_int(value: Any, dtype: tf.DType) -> int:
    _require(value, isinstance(value, int) and not isinstance(value, bool), dtype)
    if not dtype.min <= value <= dtype.max:
        raise ValueError(f"{value} is out of range for {dtype.name}")
    return value


def _to_float(value: Any, dtype: tf.DType) -> float:
    _require(value, isinstance(value, (int, float)) and not isinstance(value, bool), dtype)
    if math.isfinite(value) and abs(value) > dtype.max:
        raise ValueError(f"cannot convert {value} to {dtype.name} without loss of precision")
    return value


def _decode_string(value: Any) -> bytes:
    """A JSON string (sent as UTF-8) or a ``{"b64": ...}`` object (decoded) as bytes."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if _is_b64(value) and isinstance(value[BASE64_KEY], str):
        try:
            return base64.b64decode(value[BASE64_KEY], validate=True)
        except binascii.Error as error:
            raise ValueError(f"unable to base64 decode {value[BASE64_KEY]!r}: {error}") from error
    raise TypeError(f"JSON value {json.dumps(value)} is not a string or a {{\"b64\": ...}} object")


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and BASE64_KEY in value


def _is_named_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


# ---------------------------------------------------------------------------------------------
# classify and regress


def decode_examples(request: Mapping[str, Any]) -> list[bytes]:
    """Serialized tf.Examples from ``examples``, each merged with the shared ``context`` features."""
    context = request.get("context", {})
    if not isinstance(context, dict):
        raise InvalidArgument("'context' must be a JSON object of features")
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise InvalidArgument("'examples' must be a non-empty list of JSON objects")
    context_features = _features(context, "context")
    serialized = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise InvalidArgument(f"examples[{index}] must be a JSON object of features")
        features = _features(example, f"examples[{index}]")
        shared = sorted(context_features.keys() & features.keys())
        if shared:
            raise InvalidArgument(f"examples[{index}] repeats context features {shared}")
        proto = tf.train.Example(features=tf.train.Features(feature={**context_features, **features}))
        serialized.append(proto.SerializeToString())
    return serialized


def example_to_json(serialized: bytes) -> dict[str, list]:
    """A serialized tf.Example as one JSON object of ``examples`` (what a client sends to :classify or
    :regress); bytes that are not UTF-8 become ``{"b64": ...}``. ``decode_examples`` reads it back."""
    def value(item):
        if not isinstance(item, bytes):
            return item
        try:
            return item.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(item).decode()}

    features = tf.train.Example.FromString(serialized).features.feature
    return {name: [value(item) for item in getattr(feature, feature.WhichOneof("kind")).value]
            for name, feature in features.items() if feature.WhichOneof("kind")}


def _features(values: Mapping[str, Any], where: str) -> dict[str, tf.train.Feature]:
    return {
        name: _feature(value if isinstance(value, list) else [value], f"{where}.{name}")
        for name, value in values.items()
    }


def _feature(values: list, where: str) -> tf.train.Feature:
    """Whole numbers and bools become an int64_list, numbers with any JSON float a float_list, and
    strings or b64 objects a bytes_list (so a float feature must be sent as 1.0, not 1, as in TF Serving).
    """
    if not values:
        return tf.train.Feature()
    try:
        if all(isinstance(value, int) for value in values):
            int64s = [_to_int(int(value), tf.int64) for value in values]
            return tf.train.Feature(int64_list=tf.train.Int64List(value=int64s))
        if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
            floats = [_to_float(value, tf.float32) for value in values]
            return tf.train.Feature(float_list=tf.train.FloatList(value=floats))
        if all(isinstance(value, str) or _is_b64(value) for value in values):
            strings = [_decode_string(value) for value in values]
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=strings))
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"feature {where}: {error}") from error
    raise InvalidArgument(f"feature {where} must be numbers, or strings and b64 objects, not {json.dumps(values)}")


# The key is "results": tensorflow_model_server's json_tensor.cc writes that, and the REST guide's
# curl example shows it, although the guide's format section says "result".
def encode_regress_response(values: np.ndarray) -> dict[str, Any]:
    return {"results": _tensor_to_json("results", values)}


def encode_classify_response(labels: Sequence[Sequence[str]], scores: np.ndarray) -> dict[str, Any]:
    """``[[label, score], ...]`` per example; TF Serving writes ``""`` for a missing label."""
    score_rows = _tensor_to_json("scores", scores)
    return {
        "results": [
            [[label, score] for label, score in zip(label_row, score_row)]
            for label_row, score_row in zip(labels, score_rows)
        ]
    }


# ---------------------------------------------------------------------------------------------
# model status and metadata


def encode_model_status(statuses: Sequence[Any]) -> dict[str, Any]:
    """GetModelStatusResponse as JSON from ``VersionStatus``es; a failed load carries its error."""
    return {
        "model_version_status": [
            {
                "version": str(status.version),
                "state": status.state,
                "status": {"error_code": "UNKNOWN" if status.error else "OK", "error_message": status.error},
            }
            for status in statuses
        ]
    }


def encode_model_metadata(name: str, version: int, signature_defs: Mapping[str, Any]) -> dict[str, Any]:
    """GetModelMetadataResponse as JSON, with the SignatureDefs printed the way TF Serving prints them."""
    signature_map = get_model_metadata_pb2.SignatureDefMap(signature_def=signature_defs)
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {
            "signature_def": json_format.MessageToDict(
                signature_map, preserving_proto_field_name=True, including_default_value_fields=True
            )
        },
    }
