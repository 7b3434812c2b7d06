"""TF Serving's protos (``tensorflow_serving.apis``) to and from one loaded version.

Used by the gRPC services and by warm-up, which replays ``PredictionLog`` records through the same
functions, so a warm-up request exercises exactly what a gRPC client would.
"""
from __future__ import annotations

import math
import os

import numpy as np
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, predict_pb2, prediction_log_pb2,
                                     regression_pb2)

from serving import inference
from serving.errors import InvalidArgument, ModelLoadError, ServingError
from serving.signature import DEFAULT_SIGNATURE
from zoo.backend import tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving's cap
METADATA_FIELD = "signature_def"
MAX_TENSOR_ELEMENTS = 1 << 24


def _fill_model_spec(spec, servable, signature_name: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_name


def _dtype_name(enum: int) -> str:
    try:
        return tf.as_dtype(enum).name
    except TypeError:
        return f"an invalid type ({enum})"


def _to_array(proto, name: str, expected: tf.DType) -> np.ndarray:
    if proto.dtype != expected.as_datatype_enum:
        raise InvalidArgument(f"Expects arg[{name}] to be {expected.name} but {_dtype_name(proto.dtype)} is provided")
    dims = [dim.size for dim in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(size < 0 for size in dims):
        raise InvalidArgument(f"input {name!r} must have a fully defined shape, not {dims}")
    # A single value is broadcast to the whole shape (TensorProto's rule): cap what that may allocate.
    if math.prod(dims) > MAX_TENSOR_ELEMENTS:
        raise InvalidArgument(f"input {name!r} has {math.prod(dims):,} elements, over {MAX_TENSOR_ELEMENTS:,}")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"input {name!r} is not a valid TensorProto: {error}") from error


def predict(servable, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = servable.signature(name)
    unknown = sorted(set(request.output_filter) - set(signature.outputs))
    if unknown:
        raise InvalidArgument(f"output tensor alias not found in signature: {unknown}")
    arrays = {}
    for key, proto in request.inputs.items():
        if key in signature.inputs:
            arrays[key] = _to_array(proto, key, signature.inputs[key].dtype)
        else:
            arrays[key] = proto  # Signature.run names it in its "unknown inputs" message
    outputs = signature.run(arrays)
    response = predict_pb2.PredictResponse()
    _fill_model_spec(response.model_spec, servable, name)
    for key, array in outputs.items():
        if not request.output_filter or key in request.output_filter:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(array))
    return response


def examples(input_proto) -> list[bytes]:
    """Serialized tf.Examples of an ``Input``; with context, each is merged with the context features."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list" and input_proto.example_list.examples:
        return [example.SerializeToString() for example in input_proto.example_list.examples]
    if kind == "example_list_with_context" and input_proto.example_list_with_context.examples:
        with_context = input_proto.example_list_with_context
        merged = []
        for example in with_context.examples:
            combined = tf.train.Example()
            combined.CopyFrom(with_context.context)
            combined.MergeFrom(example)
            merged.append(combined.SerializeToString())
        return merged
    raise InvalidArgument("Input is empty.")


def classify(servable, request: classification_pb2.ClassificationRequest) -> classification_pb2.ClassificationResponse:
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    labels, scores = inference.classify(servable.signature(name), examples(request.input))
    response = classification_pb2.ClassificationResponse()
    _fill_model_spec(response.model_spec, servable, name)
    for label_row, score_row in zip(labels, scores):
        classification = response.result.classifications.add()
        for label, score in zip(label_row, score_row):
            classification.classes.add(label=label, score=float(score))
    return response


def regress(servable, request: regression_pb2.RegressionRequest) -> regression_pb2.RegressionResponse:
    name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    values = inference.regress(servable.signature(name), examples(request.input))
    response = regression_pb2.RegressionResponse()
    _fill_model_spec(response.model_spec, servable, name)
    for value in values:
        response.result.regressions.add(value=float(value))
    return response


def metadata(servable, request: get_model_metadata_pb2.GetModelMetadataRequest):
    fields = set(request.metadata_field)
    if fields != {METADATA_FIELD}:
        raise InvalidArgument(f"Metadata field {sorted(fields)} is not supported; request only {METADATA_FIELD!r}")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    _fill_model_spec(response.model_spec, servable, "")
    signature_map = get_model_metadata_pb2.SignatureDefMap(signature_def=servable.signature_defs)
    response.metadata[METADATA_FIELD].Pack(signature_map)
    return response


def warm_up(servable, iterations: int = 1) -> int:
    """Replays the version's ``assets.extra/tf_serving_warmup_requests``; returns how many ran.

    A record that fails fails the load, as in TF Serving: a version that cannot answer its own
    warm-up requests should not be marked AVAILABLE.
    """
    path = os.path.join(servable.path, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        return 0
    handlers = {"predict_log": predict, "classify_log": classify, "regress_log": regress}
    count = 0
    try:
        for record in tf.compat.v1.io.tf_record_iterator(path):
            log = prediction_log_pb2.PredictionLog.FromString(record)
            kind = log.WhichOneof("log_type")
            if kind not in handlers:
                raise ModelLoadError(f"warm-up record {count} is a {kind}, which this server does not replay")
            for _ in range(iterations):
                handlers[kind](servable, getattr(log, kind).request)
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise ModelLoadError(f"more than {MAX_WARMUP_RECORDS} warm-up records in {path!r}")
    except ServingError as error:
        raise ModelLoadError(f"warm-up record {count} of {path!r} failed: {error.message}") from error
    except (tf.errors.OpError, DecodeError) as error:  # truncated file, unparsable record
        raise ModelLoadError(f"cannot read warm-up requests {path!r}: {error}") from error
    return count
