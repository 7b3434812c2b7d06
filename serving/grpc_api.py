"""TF Serving's gRPC services: ``PredictionService`` (Predict, Classify, Regress, GetModelMetadata)
and ``ModelService.GetModelStatus``, on the generated stubs of ``tensorflow-serving-api``, so an
unmodified TF Serving client (``prediction_service_pb2_grpc.PredictionServiceStub``) works.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import time
from typing import Callable

import grpc
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc, regression_pb2)

from serving import protos
from serving.errors import InvalidArgument, ServingError
from serving.metrics import Metrics
from serving.model_manager import ModelManager

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("serving.access")


class _Context:
    """Model and version a call resolved to, for metrics and the access log."""

    model = ""
    version = ""


def _resolve(manager: ModelManager, model_spec, context: _Context):
    model = manager.get_model(model_spec.name)
    context.model = model.name
    which = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if which == "version" else None
    servable = model.get(version, model_spec.version_label if which == "version_label" else None)
    context.version = str(servable.version)
    return servable


class _Undecodable:
    """What the deserializer hands over for bytes that are not the method's request message."""

    def __init__(self, message: str):
        self.message = message


def _deserializer(message_type) -> Callable:
    """``FromString`` that never raises: grpc would answer INTERNAL, but bad bytes are the client's error."""
    def deserialize(data: bytes):
        try:
            return message_type.FromString(data)
        except (DecodeError, RuntimeWarning, ValueError) as error:
            return _Undecodable(f"the request is not a valid {message_type.DESCRIPTOR.full_name}: {error}")
    return deserialize


def _method(api: str, manager: ModelManager, metrics: Metrics, compute: Callable) -> Callable:
    """A servicer method: resolves the servable, runs ``compute``, maps ServingError to its status."""

    def handler(request, grpc_context):
        started, context, code = time.perf_counter(), _Context(), grpc.StatusCode.OK
        try:
            if isinstance(request, _Undecodable):
                raise InvalidArgument(request.message)
            return compute(request, context)
        except ServingError as error:
            code = grpc.StatusCode[error.grpc_code]
            grpc_context.abort(code, error.message)
        except Exception as error:  # a bug, not the client's fault: log it, keep serving
            logger.exception("gRPC %s failed", api)
            code = grpc.StatusCode.INTERNAL
            grpc_context.abort(code, f"internal error: {error}")
        finally:
            seconds = time.perf_counter() - started
            if context.model:
                metrics.observe_request(context.model, context.version, api, "grpc", code.name, seconds,
                                        code != grpc.StatusCode.OK)
            if access_logger.isEnabledFor(logging.INFO):
                access_logger.info(json.dumps({
                    "protocol": "grpc", "client": grpc_context.peer(), "api": api, "model": context.model,
                    "version": context.version, "status": code.name, "latency_ms": round(seconds * 1000, 3),
                }))

    return handler


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: ModelManager, metrics: Metrics):
        def on_servable(function):
            return lambda request, context: function(_resolve(manager, request.model_spec, context), request)

        self.Predict = _method("predict", manager, metrics, on_servable(protos.predict))
        self.Classify = _method("classify", manager, metrics, on_servable(protos.classify))
        self.Regress = _method("regress", manager, metrics, on_servable(protos.regress))
        self.GetModelMetadata = _method("metadata", manager, metrics, on_servable(protos.metadata))


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager, metrics: Metrics):
        def status(request, context):
            model = manager.get_model(request.model_spec.name)
            context.model = model.name
            spec = request.model_spec
            which = spec.WhichOneof("version_choice")
            version = spec.version.value if which == "version" else None
            if which == "version_label":
                version = model.get(label=spec.version_label).version
            response = get_model_status_pb2.GetModelStatusResponse()
            for entry in model.status(version):
                status = response.model_version_status.add(
                    version=entry.version, state=get_model_status_pb2.ModelVersionStatus.State.Value(entry.state))
                status.status.error_code = 2 if entry.error else 0  # tensorflow.error.Code UNKNOWN / OK
                status.status.error_message = entry.error
            return response

        self.GetModelStatus = _method("status", manager, metrics, status)


# Service -> method -> (request, response); methods left out (MultiInference, HandleReloadConfigRequest)
# are answered UNIMPLEMENTED by grpc.
_METHODS = {
    "tensorflow.serving.PredictionService": {
        "Predict": (predict_pb2.PredictRequest, predict_pb2.PredictResponse),
        "Classify": (classification_pb2.ClassificationRequest, classification_pb2.ClassificationResponse),
        "Regress": (regression_pb2.RegressionRequest, regression_pb2.RegressionResponse),
        "GetModelMetadata": (get_model_metadata_pb2.GetModelMetadataRequest,
                             get_model_metadata_pb2.GetModelMetadataResponse),
    },
    "tensorflow.serving.ModelService": {
        "GetModelStatus": (get_model_status_pb2.GetModelStatusRequest, get_model_status_pb2.GetModelStatusResponse),
    },
}


def _handlers(prediction: PredictionService, model: ModelService) -> tuple:
    """The services' handlers, as the generated ``add_*Servicer_to_server`` build them but with
    ``_deserializer``, so that undecodable bytes get INVALID_ARGUMENT."""
    servicers = {"tensorflow.serving.PredictionService": prediction, "tensorflow.serving.ModelService": model}
    return tuple(
        grpc.method_handlers_generic_handler(service, {
            name: grpc.unary_unary_rpc_method_handler(getattr(servicers[service], name),
                                                      request_deserializer=_deserializer(request),
                                                      response_serializer=response.SerializeToString)
            for name, (request, response) in methods.items()
        })
        for service, methods in _METHODS.items()
    )


def start_grpc_server(manager: ModelManager, metrics: Metrics, address: str, max_message_bytes: int,
                      max_workers: int = 64) -> tuple[grpc.Server, int]:
    """Starts the services on ``address`` (``host:port``, port 0 picks one); returns the server and port."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc"),
                         options=options)
    server.add_generic_rpc_handlers(_handlers(PredictionService(manager, metrics), ModelService(manager, metrics)))
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC to {address}")
    server.start()
    return server, port
