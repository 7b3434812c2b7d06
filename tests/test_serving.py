"""End-to-end tests of the TF-Serving-compatible REST server.

Tiny SavedModels with known outputs are exported into temporary directories in TF Serving's layout
and served on a free loopback port; every assertion checks values the models computed.
"""
import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import serving  # noqa: F401  (sets up the environment before TensorFlow loads)
from serving import server
from serving.codec import example_to_json
from serving.config import ModelSpec, VersionPolicy
from toy_models import export_toy
from zoo.backend import tf

REPO_ROOT = Path(__file__).resolve().parents[1]


def _export_tf1_half_plus_three(path: Path) -> None:
    """A TF1 export with classify/regress method names, like TF Serving's half_plus_three test model."""
    with tf.Graph().as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        y = x * 0.5 + 3.0
        builder = tf.compat.v1.saved_model.Builder(str(path))
        with tf.compat.v1.Session() as session:
            builder.add_meta_graph_and_variables(
                session,
                [tf.saved_model.SERVING],
                signature_def_map={
                    "tensorflow/serving/regress": tf.compat.v1.saved_model.regression_signature_def(serialized, y),
                    "tensorflow/serving/classify": tf.compat.v1.saved_model.classification_signature_def(
                        serialized, None, y
                    ),
                },
            )
        builder.save()


@pytest.fixture(scope="module")
def toy_base_path(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("toy")
    export_toy(base / "1", offset=2.0)
    export_toy(base / "2", offset=3.0)
    (base / "not-a-version").mkdir()  # ignored, as in TF Serving
    return base


@pytest.fixture(scope="module")
def toy(toy_base_path):
    with server.start_server(specs=[ModelSpec("toy", str(toy_base_path), VersionPolicy("all"))]) as handle:
        yield handle


@pytest.fixture(scope="module")
def tf1(tmp_path_factory):
    base = tmp_path_factory.mktemp("tf1")
    _export_tf1_half_plus_three(base / "123")
    with server.start_server("half_plus_three", str(base)) as handle:
        yield handle


def _call(url: str, body=None, *, raw: bytes | None = None, method: str | None = None):
    """(HTTP status, decoded JSON reply); NaN/Infinity tokens are accepted as TF Serving sends them."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


# --- status and metadata ------------------------------------------------------------------------


def test_handle_reports_address_and_latest_version(toy):
    assert toy.host == "127.0.0.1"
    assert toy.port > 0
    assert toy.url == f"http://127.0.0.1:{toy.port}"
    assert toy.version == 2


def test_status_lists_every_loaded_version(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy")
    assert status == 200
    ok = {"state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    assert reply == {"model_version_status": [{"version": "1", **ok}, {"version": "2", **ok}]}


def test_status_of_one_version(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy/versions/1")
    assert status == 200
    assert [entry["version"] for entry in reply["model_version_status"]] == ["1"]


def test_metadata_reports_the_saved_signature_defs(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy/metadata")
    assert status == 200
    assert reply["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    signature_defs = reply["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "multi", "strings", "regress_x", "classify_x"} <= set(signature_defs)

    default = signature_defs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert default["inputs"]["x"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert set(default["outputs"]) == {"y"}

    multi = signature_defs["multi"]
    assert multi["inputs"]["b"]["dtype"] == "DT_INT64"
    assert [dim["size"] for dim in multi["inputs"]["b"]["tensor_shape"]["dim"]] == ["-1", "2"]
    assert {name: output["dtype"] for name, output in multi["outputs"].items()} == {
        "total": "DT_FLOAT",
        "doubled": "DT_INT64",
    }
    assert signature_defs["regress_x"]["inputs"]["examples"]["dtype"] == "DT_STRING"


def test_metadata_of_an_older_version(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy/versions/1/metadata")
    assert status == 200
    assert reply["model_spec"]["version"] == "1"


# --- predict -------------------------------------------------------------------------------------


def test_predict_row_format_uses_latest_version(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy:predict", {"instances": [1.0, 2.0, 5.0]})
    assert status == 200
    assert reply == {"predictions": [3.5, 4.0, 5.5]}


def test_predict_addresses_a_version(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy/versions/1:predict", {"instances": [1.0, 2.0, 5.0]})
    assert status == 200
    assert reply == {"predictions": [2.5, 3.0, 4.5]}


def test_predict_columnar_format(toy):
    _, bare = _call(f"{toy.url}/v1/models/toy:predict", {"inputs": [1, 3]})
    _, named = _call(f"{toy.url}/v1/models/toy:predict", {"signature_name": "", "inputs": {"x": [1, 3]}})
    assert bare == named == {"outputs": [3.5, 4.5]}


def test_predict_row_objects_for_a_single_input(toy):
    _, reply = _call(f"{toy.url}/v1/models/toy:predict", {"instances": [{"x": 4.0}, {"x": 6.0}]})
    assert reply == {"predictions": [5.0, 6.0]}


def test_predict_writes_short_floats_and_non_finite_tokens(toy):
    status, reply = _call(f"{toy.url}/v1/models/toy:predict", raw=b'{"instances": [0.2, NaN, -Infinity]}')
    assert status == 200
    shortest, nan, minus_infinity = reply["predictions"]
    assert shortest == 3.1  # float32 0.2 / 2 + 3, written with float32's shortest digits (not 3.0999999)
    assert nan != nan
    assert minus_infinity == float("-inf")


def test_predict_multiple_inputs_and_outputs_row_format(toy):
    body = {"signature_name": "multi", "instances": [{"a": 1.0, "b": [1, 2]}, {"a": 0.5, "b": [3, 4]}]}
    status, reply = _call(f"{toy.url}/v1/models/toy:predict", body)
    assert status == 200
    assert reply == {"predictions": [{"doubled": [2, 4], "total": 4.0}, {"doubled": [6, 8], "total": 7.5}]}


def test_predict_multiple_inputs_and_outputs_columnar_format(toy):
    body = {"signature_name": "multi", "inputs": {"a": [1.0, 0.5], "b": [[1, 2], [3, 4]]}}
    status, reply = _call(f"{toy.url}/v1/models/toy:predict", body)
    assert status == 200
    assert reply == {"outputs": {"doubled": [[2, 4], [6, 8]], "total": [4.0, 7.5]}}


def test_predict_string_tensors_and_b64(toy):
    body = {"signature_name": "strings", "instances": ["abc", _b64(b"\xffxy")]}
    status, reply = _call(f"{toy.url}/v1/models/toy:predict", body)
    assert status == 200
    assert reply == {
        "predictions": [
            # *_bytes outputs are always b64; other strings only when they are not UTF-8.
            {"echo_bytes": _b64(b"abc"), "length": 3, "upper": "ABC"},
            {"echo_bytes": _b64(b"\xffxy"), "length": 3, "upper": _b64(b"\xffXY")},
        ]
    }


# --- classify and regress ------------------------------------------------------------------------


def test_regress_with_a_predict_signature(toy):
    body = {"signature_name": "regress_x", "examples": [{"x": 1.0}, {"x": 4.0}]}
    status, reply = _call(f"{toy.url}/v1/models/toy:regress", body)
    assert status == 200
    assert reply == {"results": [3.5, 5.0]}
    _, older = _call(f"{toy.url}/v1/models/toy/versions/1:regress", body)
    assert older == {"results": [2.5, 4.0]}


def test_regress_merges_context_into_every_example(toy):
    body = {"signature_name": "regress_x", "context": {"w": 2.0}, "examples": [{"x": 1.0}, {"x": 4.0}]}
    _, reply = _call(f"{toy.url}/v1/models/toy:regress", body)
    assert reply == {"results": [4.0, 7.0]}


def test_classify_with_a_predict_signature(toy):
    body = {"signature_name": "classify_x", "examples": [{"x": 2.0}, {"x": [5.0]}]}
    status, reply = _call(f"{toy.url}/v1/models/toy:classify", body)
    assert status == 200
    assert reply == {"results": [[["pos", 0.2], ["neg", 0.8]], [["pos", 0.5], ["neg", 0.5]]]}


def test_tf1_regress_signature(tf1):
    body = {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}
    status, reply = _call(f"{tf1.url}/v1/models/half_plus_three:regress", body)
    assert status == 200
    assert reply == {"results": [3.5, 4.0]}


def test_tf1_classify_signature_without_classes_has_empty_labels(tf1):
    body = {"signature_name": "tensorflow/serving/classify", "examples": [{"x": 1.0}, {"x": 2.0}]}
    status, reply = _call(f"{tf1.url}/v1/models/half_plus_three:classify", body)
    assert status == 200
    assert reply == {"results": [[["", 3.5]], [["", 4.0]]]}


def test_tf1_signature_method_must_match_the_verb(tf1):
    body = {"signature_name": "tensorflow/serving/classify", "examples": [{"x": 1.0}]}
    status, reply = _call(f"{tf1.url}/v1/models/half_plus_three:regress", body)
    assert status == 400
    assert "method_name" in reply["error"]


# --- errors ----------------------------------------------------------------------------------------

_PREDICT = "/v1/models/toy:predict"
_MULTI = {"signature_name": "multi"}
_CLASSIFY = "/v1/models/toy:classify"
_REGRESS = "/v1/models/toy:regress"
_REGRESS_X = {"signature_name": "regress_x"}


@pytest.mark.parametrize(
    "method, path, body, expected_status, expected_message",
    [
        ("POST", _PREDICT, b"{not json", 400, "JSON Parse error"),
        ("POST", _PREDICT, b"", 400, "empty"),
        ("POST", _PREDICT, [1.0], 400, "JSON object"),
        ("POST", _PREDICT, {"signature_name": "serving_default"}, 400, "exactly one of"),
        ("POST", _PREDICT, {"instances": [1.0], "inputs": [1.0]}, 400, "exactly one of"),
        ("POST", _PREDICT, {"instances": []}, 400, "non-empty"),
        ("POST", _PREDICT, {"signature_name": "nope", "instances": [1.0]}, 400, '"nope" not found'),
        ("POST", _PREDICT, {"signature_name": 7, "instances": [1.0]}, 400, "signature_name"),
        ("POST", _PREDICT, {"inputs": {"x": [1.0], "z": [2.0]}}, 400, "unknown ['z']"),
        ("POST", _PREDICT, {**_MULTI, "instances": [{"a": 1.0}]}, 400, "exactly the keys ['a', 'b']"),
        ("POST", _PREDICT, {**_MULTI, "instances": [1.0]}, 400, "2 inputs"),
        ("POST", _PREDICT, {**_MULTI, "inputs": {"a": [1.0]}}, 400, "missing ['b']"),
        ("POST", _PREDICT, {"instances": ["a"]}, 400, "not of expected type float32"),
        ("POST", _PREDICT, {"instances": [True]}, 400, "not of expected type float32"),
        ("POST", _PREDICT, {"instances": [1e300]}, 400, "loss of precision"),
        ("POST", _PREDICT, {"instances": [[1.0, 2.0]]}, 400, "has shape [1, 2]"),
        ("POST", _PREDICT, {**_MULTI, "inputs": {"a": [1.0], "b": [[1, 2], [3]]}}, 400, "ragged"),
        ("POST", _PREDICT, {**_MULTI, "inputs": {"a": [1.0], "b": [[1.5, 2]]}}, 400, "int64"),
        ("POST", _PREDICT, {**_MULTI, "inputs": {"a": [1.0], "b": [[2**63, 2]]}}, 400, "out of range"),
        ("POST", _PREDICT, {"signature_name": "strings", "instances": [{"b64": "%%%"}]}, 400, "base64"),
        ("POST", _PREDICT, {"signature_name": "strings", "instances": [{"b64": 5}]}, 400, "b64"),
        ("POST", _CLASSIFY, {"examples": [{"x": 1.0}]}, 400, "DT_STRING"),
        ("POST", _CLASSIFY, {"signature_name": "regress_x", "examples": [{"x": 1.0}]}, 400, "'scores'"),
        ("POST", _REGRESS, {"signature_name": "multi", "examples": [{"x": 1.0}]}, 400, "DT_STRING"),
        ("POST", _REGRESS, _REGRESS_X, 400, "'examples'"),
        ("POST", _REGRESS, {**_REGRESS_X, "examples": [{"y": 1.0}]}, 400, "Feature: x (data type: float) is required"),
        ("POST", _REGRESS, {**_REGRESS_X, "examples": [{"x": 1}]}, 400, "Data types don't match"),
        ("POST", _REGRESS, {**_REGRESS_X, "examples": [{"x": None}]}, 400, "examples[0].x"),
        ("POST", _REGRESS, {**_REGRESS_X, "examples": [{"x": [1.0, "a"]}]}, 400, "examples[0].x"),
        ("POST", _REGRESS, {**_REGRESS_X, "examples": [7]}, 400, "examples[0]"),
        ("POST", _REGRESS, {**_REGRESS_X, "context": {"x": 1.0}, "examples": [{"x": 1.0}]}, 400, "context"),
        ("POST", "/v1/models/nope:predict", {"instances": [1.0]}, 404, "Latest(nope)"),
        ("POST", "/v1/models/toy/versions/9:predict", {"instances": [1.0]}, 404, "Specific(toy, 9)"),
        ("GET", "/v1/models/nope", None, 404, "nope"),
        ("GET", "/v1/models/toy/versions/9", None, 404, "Specific(toy, 9)"),
        ("GET", "/v1/models/toy/versions/9/metadata", None, 404, "Specific(toy, 9)"),
        ("GET", "/v1/models/%2E%2E%2Fetc", None, 404, "Malformed"),
        ("GET", "/v2/models/toy", None, 404, "Malformed"),
        ("POST", "/v1/models/toy:explode", {"instances": [1.0]}, 404, "Malformed"),
        ("GET", _PREDICT, None, 405, "POST"),
        ("POST", "/v1/models/toy/metadata", {}, 405, "GET"),
    ],
)
def test_errors_are_json_with_the_right_status(toy, method, path, body, expected_status, expected_message):
    raw = body if isinstance(body, bytes) else None
    status, reply = _call(f"{toy.url}{path}", None if raw is not None else body, raw=raw, method=method)
    assert status == expected_status
    assert set(reply) == {"error"}
    assert expected_message in reply["error"]
    # The server keeps serving after every error.
    assert _call(f"{toy.url}{_PREDICT}", {"instances": [2.0]}) == (200, {"predictions": [4.0]})


def test_one_keep_alive_connection_serves_several_requests(toy):
    connection = http.client.HTTPConnection("127.0.0.1", toy.port, timeout=60)
    try:
        replies = []
        for body in (b'{"instances": [2.0]}', b"{broken", b'{"inputs": [4.0]}'):
            connection.request("POST", _PREDICT, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            replies.append((response.status, json.loads(response.read())))
    finally:
        connection.close()
    assert replies[0] == (200, {"predictions": [4.0]})
    assert replies[1][0] == 400
    assert replies[2] == (200, {"outputs": [5.0]})


# --- command line ----------------------------------------------------------------------------------


def test_main_fails_cleanly_without_versions(tmp_path, capsys):
    assert server.main(["--model_name", "x", "--model_base_path", str(tmp_path), "--rest_api_port", "0"]) == 1
    assert "no servable version" in capsys.readouterr().err


def test_build_arg_parser_uses_tensorflow_model_server_flags():
    command = ["--port=9000", "--rest_api_port=0", "--model_base_path=/models/m", "--enable_batching",
               "--batching_parameters_file=/b.txt", "--file_system_poll_wait_seconds=5"]
    args = server.build_arg_parser().parse_args(command)
    assert (args.model_name, args.model_base_path, args.rest_api_port, args.rest_api_host) == (
        "default",
        "/models/m",
        0,
        "127.0.0.1",
    )
    assert (args.port, args.enable_batching, args.batching_parameters_file, args.file_system_poll_wait_seconds) == (
        9000, True, "/b.txt", 5.0)
    assert (args.grpc_host, args.model_config_file) == ("127.0.0.1", None)


@pytest.mark.timeout(180)
def test_command_line_server_serves_until_sigterm(toy_base_path):
    command = [sys.executable, "-m", "serving.server", "--model_name", "toy"]
    command += ["--model_base_path", str(toy_base_path), "--rest_api_port", "0", "--port", "0"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = process.stdout.readline()
        match = re.fullmatch(r"serving toy version 2 at http://127\.0\.0\.1:(\d+)\n", ready)
        assert match, ready
        status, reply = _call(f"http://127.0.0.1:{match[1]}{_PREDICT}", {"instances": [1.0]})
        assert (status, reply) == (200, {"predictions": [3.5]})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        process.stdout.close()


# --- gRPC: the same toy models through TF Serving's own client stubs --------------------------------

from tensorflow_serving.apis import (  # noqa: E402  (grouped with the tests that use them)
    classification_pb2, get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
    prediction_service_pb2_grpc, regression_pb2)

import grpc  # noqa: E402


@pytest.fixture(scope="module")
def stubs(toy):
    with grpc.insecure_channel(toy.grpc_target) as channel:
        yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
               model_service_pb2_grpc.ModelServiceStub(channel))


def _example(**features) -> tf.train.Example:
    return tf.train.Example(features=tf.train.Features(feature={
        name: tf.train.Feature(float_list=tf.train.FloatList(value=[value])) for name, value in features.items()
    }))


def test_grpc_predict_latest_and_specific_version(stubs):
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0, 5.0], dtype=tf.float32))
    response = prediction.Predict(request, timeout=60)
    assert (response.model_spec.name, response.model_spec.version.value) == ("toy", 2)
    assert response.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.5, 4.0, 5.5]
    request.model_spec.version.value = 1
    assert tf.make_ndarray(prediction.Predict(request, timeout=60).outputs["y"]).tolist() == [2.5, 3.0, 4.5]


def test_grpc_predict_output_filter_and_several_outputs(stubs):
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "multi"
    request.inputs["a"].CopyFrom(tf.make_tensor_proto([1.0, 0.5], dtype=tf.float32))
    request.inputs["b"].CopyFrom(tf.make_tensor_proto([[1, 2], [3, 4]], dtype=tf.int64))
    response = prediction.Predict(request, timeout=60)
    assert tf.make_ndarray(response.outputs["total"]).tolist() == [4.0, 7.5]
    assert tf.make_ndarray(response.outputs["doubled"]).tolist() == [[2, 4], [6, 8]]
    request.output_filter.append("total")
    assert list(prediction.Predict(request, timeout=60).outputs) == ["total"]


def test_grpc_classify_and_regress_with_context(stubs):
    prediction, _ = stubs
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "regress_x"
    request.input.example_list_with_context.context.CopyFrom(_example(w=2.0))
    request.input.example_list_with_context.examples.extend([_example(x=1.0), _example(x=4.0)])
    response = prediction.Regress(request, timeout=60)
    assert [r.value for r in response.result.regressions] == [4.0, 7.0]
    assert response.model_spec.version.value == 2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "classify_x"
    request.input.example_list.examples.extend([_example(x=2.0)])
    (classification,) = prediction.Classify(request, timeout=60).result.classifications
    assert [(c.label, round(c.score, 6)) for c in classification.classes] == [("pos", 0.2), ("neg", 0.8)]


def test_grpc_metadata_and_status(stubs, toy_base_path):
    prediction, model_service = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = prediction.GetModelMetadata(request, timeout=60)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    assert signature_map.signature_def["serving_default"].inputs["x"].dtype == tf.float32.as_datatype_enum
    assert response.model_spec.version.value == 2

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "toy"
    statuses = model_service.GetModelStatus(status_request, timeout=60).model_version_status
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert [(s.version, s.state, s.status.error_code) for s in statuses] == [(1, available, 0), (2, available, 0)]


@pytest.mark.parametrize("mutate, code, message", [
    (lambda r: setattr(r.model_spec, "name", "nope"), grpc.StatusCode.NOT_FOUND, "Latest(nope)"),
    (lambda r: r.model_spec.version.__setattr__("value", 9), grpc.StatusCode.NOT_FOUND, "Specific(toy, 9)"),
    (lambda r: setattr(r.model_spec, "signature_name", "zzz"), grpc.StatusCode.INVALID_ARGUMENT, '"zzz" not found'),
    (lambda r: r.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float64)), grpc.StatusCode.INVALID_ARGUMENT,
     "to be float32 but float64"),
    (lambda r: r.inputs["q"].CopyFrom(tf.make_tensor_proto([1.0])), grpc.StatusCode.INVALID_ARGUMENT, "unknown ['q']"),
    (lambda r: r.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0]])), grpc.StatusCode.INVALID_ARGUMENT, "shape [1, 1]"),
])
def test_grpc_errors_carry_tf_serving_status_codes(stubs, mutate, code, message):
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    mutate(request)
    with pytest.raises(grpc.RpcError) as raised:
        prediction.Predict(request, timeout=60)
    assert raised.value.code() == code
    assert message in raised.value.details()


# --- an exported zoo model: every signature, the card and the warm-up requests -------------------------


@pytest.fixture(scope="module")
def zoo_model(contract_data, contract_schema, tmp_path_factory):
    """logistic_regression exported as the Trainer exports it, with its card and real warm-up examples."""
    import zoo
    from pipelines.export import export_serving_model

    tf.keras.utils.set_random_seed(0)
    model = zoo.create("logistic_regression", contract_data["spec"])
    base = tmp_path_factory.mktemp("zoo_model")
    export_serving_model(model, contract_data["transform_output"], contract_schema, str(base / "1"),
                         card=zoo.get_card("logistic_regression"),
                         warmup_examples=contract_data["serialized"].numpy()[:12].tolist())
    expected = model(contract_data["inputs"], training=False).numpy()[:, 0]
    with server.start_server("ctr", str(base)) as handle:
        yield handle, base / "1", expected


def test_export_writes_card_and_warmup_requests(zoo_model):
    from tensorflow_serving.apis import prediction_log_pb2

    _, path, _ = zoo_model
    card = json.loads((path / "assets.extra" / "zoo_card.json").read_text())
    assert card["name"] == "logistic_regression"
    records = list(tf.compat.v1.io.tf_record_iterator(str(path / "assets.extra" / "tf_serving_warmup_requests")))
    kinds = [prediction_log_pb2.PredictionLog.FromString(r).WhichOneof("log_type") for r in records]
    assert kinds == ["predict_log", "classify_log", "regress_log"] * 2  # 12 examples in batches of 8


# What an Evaluator's Beam worker does in its own process (DirectRunner multi_processing, Flink, Spark,
# Dataflow): load the pushed model with TFMA's loader and the pipeline's EvalConfig, without zoo imported.
_TFMA_WORKER = """
import base64, json, sys
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

path, config, examples = sys.argv[1], sys.argv[2], [base64.b64decode(e) for e in json.loads(sys.argv[3])]
shared = tfma.default_eval_shared_model(eval_saved_model_path=path,
                                        eval_config=json_format.Parse(config, tfma.EvalConfig()))
model = shared.model_loader.construct_fn()
(scores,) = model.signatures["serving_default"](examples=tf.constant(examples)).values()
print("RESULT " + json.dumps({"zoo_imported": "zoo" in sys.modules, "scores": scores.numpy()[:, 0].tolist()}))
"""


def test_tfma_loads_the_export_in_a_worker_process_without_zoo(zoo_model, contract_data):
    from google.protobuf import json_format

    from pipelines.config import EvaluationConfig
    from pipelines.tasks import ranking_eval_config

    _, path, expected = zoo_model
    config = json_format.MessageToJson(ranking_eval_config(EvaluationConfig(), {"label": "binary"}))
    examples = [base64.b64encode(e).decode() for e in contract_data["serialized"].numpy()[:5]]
    done = subprocess.run([sys.executable, "-c", _TFMA_WORKER, str(path), config, json.dumps(examples)],
                          capture_output=True, text=True, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert not result["zoo_imported"]
    assert result["scores"] == pytest.approx(expected[:5].tolist(), abs=1e-6)


def test_exported_signatures_and_methods(zoo_model):
    handle, _, _ = zoo_model
    _, reply = _call(f"{handle.url}/v1/models/ctr/metadata")
    defs = reply["metadata"]["signature_def"]["signature_def"]
    assert defs["classify"]["method_name"] == "tensorflow/serving/classify"
    assert set(defs["classify"]["inputs"]) == {"inputs"}
    assert set(defs["classify"]["outputs"]) == {"classes", "scores"}
    assert defs["regress"]["method_name"] == "tensorflow/serving/regress"
    assert set(defs["regress"]["inputs"]) == {"inputs"} and set(defs["regress"]["outputs"]) == {"outputs"}
    assert set(defs["predict_raw"]["inputs"]) == {"user", "item", "city", "tags", "history", "history_gaps", "price",
                                                  "age", "ts"}


def _raw_instance(row: dict) -> dict:
    """A contract-schema row as predict_raw's named inputs (absent values as 0 / "")."""
    def scalar(value, empty):
        value = value[0] if isinstance(value, list) and value else value
        return empty if value in (None, []) else value
    return {"user": scalar(row.get("user"), ""), "item": scalar(row.get("item"), 0),
            "city": scalar(row.get("city"), ""), "tags": scalar(row.get("tags"), ""), "price": float(scalar(row.get("price"), 0.0)),
            "age": scalar(row.get("age"), 0), "ts": scalar(row.get("ts"), 0),
            "history": (list(row.get("history") or []) + [0] * 4)[:4],
            "history_gaps": (list(row.get("history_gaps") or []) + [0] * 4)[:4]}


def test_exported_model_over_rest_and_grpc_agrees_with_the_model(zoo_model, contract_data):
    handle, _, expected = zoo_model
    rows = 6
    serialized = contract_data["serialized"].numpy()[:rows].tolist()
    _, by_example = _call(f"{handle.url}/v1/models/ctr:predict", {"instances": [_b64(s) for s in serialized]})
    assert [p[0] for p in by_example["predictions"]] == pytest.approx(expected[:rows], abs=1e-6)

    _, classified = _call(f"{handle.url}/v1/models/ctr:classify",
                          {"signature_name": "classify", "examples": [example_to_json(s) for s in serialized]})
    assert [[label for label, _ in r] for r in classified["results"]] == [["0", "1"]] * rows
    assert [r[1][1] for r in classified["results"]] == pytest.approx(expected[:rows], abs=1e-6)

    with grpc.insecure_channel(handle.grpc_target) as channel:
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name, request.model_spec.signature_name = "ctr", "classify"
        request.input.example_list.examples.extend(tf.train.Example.FromString(s) for s in serialized)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Classify(request, timeout=60)
        regress = regression_pb2.RegressionRequest(input=request.input)
        regress.model_spec.name, regress.model_spec.signature_name = "ctr", "regress"
        regressed = stub.Regress(regress, timeout=60)
    assert [c.classes[1].score for c in response.result.classifications] == pytest.approx(expected[:rows], abs=1e-6)
    assert [r.value for r in regressed.result.regressions] == pytest.approx(expected[:rows], abs=1e-6)


def test_predict_raw_takes_named_json_features(zoo_model, contract_data):
    handle, _, expected = zoo_model
    def representable(row):  # 0 means "no value" in predict_raw, so rows holding a real 0 are left out
        values = [v for k, v in row.items() if k != "label" for v in (v if isinstance(v, list) else [v])]
        return len(row.get("history") or []) <= 4 and len(row.get("history_gaps") or []) <= 4 and 0 not in values

    rows = [r for r in contract_data["rows"][:60] if representable(r)][:5]
    assert len(rows) == 5
    indices = [contract_data["rows"].index(r) for r in rows]
    status, reply = _call(f"{handle.url}/v1/models/ctr:predict",
                          {"signature_name": "predict_raw", "instances": [_raw_instance(r) for r in rows]})
    assert status == 200, reply
    assert [p[0] for p in reply["predictions"]] == pytest.approx(expected[indices], abs=1e-5)
