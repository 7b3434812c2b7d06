"""Operating the server: fuzzed hostile requests, hot swap under load, broken versions, batching,
metrics, health, limits, models.config and graceful shutdown. Toy SavedModels compute y = x / 2 + offset,
where the offset tells versions apart.
"""
import concurrent.futures
import json
import random
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import serving  # noqa: F401  (sets up the environment before TensorFlow loads)
from serving import server
from serving.batching import Batcher
from serving.config import (BatchingParameters, ModelSpec, VersionPolicy, discover_models, models_config_text,
                            parse_batching_parameters, read_models_config)
from serving.errors import InvalidArgument, Unavailable
from toy_models import export_toy
from zoo.backend import tf


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """Versions 1..3 exported once; tests copy them into their own base paths."""
    root = tmp_path_factory.mktemp("exports")
    for version in (1, 2, 3):
        export_toy(root / str(version), float(version + 1))
    return root


def _call(url: str, body=None, raw: bytes | None = None, method: str | None = None, headers=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _predict(url: str, name: str, x: float):
    status, body = _call(f"{url}/v1/models/{name}:predict", {"instances": [x]})
    return status, json.loads(body)


# --- hostile requests --------------------------------------------------------------------------------

_HOSTILE_BODIES = [
    b"", b"{", b"[]", b"null", b"7", b'"x"', b"\xff\xfe\x00", b'{"instances": []}', b'{"instances": {}}',
    b'{"inputs": null}', b'{"instances": [[1.0]]}', b'{"instances": ["a"]}', b'{"instances": [{"b64": "!!"}]}',
    b'{"instances": [{"x": 1.0, "z": 2}]}', b'{"instances": [1.0], "inputs": [1.0]}', b'{"signature_name": 5}',
    b'{"signature_name": "nope", "instances": [1.0]}', b'{"instances": [true]}', b'{"instances": [1e999]}',
    b'{"instances": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}', b'{"instances": [1.0, [2.0]]}',
    b'{"examples": [{"x": "\xc3\x28"}]}', b'{"examples": "x"}', b'{"examples": []}', b'{"examples": [{"x": {}}]}',
    b'{"instances": [' + b"1.0," * 5000 + b"1.0]",  # a larger-than-max batch when batching
    b'{"instances": [{"b64": 5}]}', b"[" * 100000,
]
_PATHS = ["/v1/models/m:predict", "/v1/models/m:regress", "/v1/models/m:classify", "/v1/models/m/versions/1:predict",
          "/v1/models/m/versions/99:predict", "/v1/models/m/labels/nope:predict", "/v1/models/other:predict",
          "/v1/models/..%2F..%2Fetc:predict", "/v1/models/m:explode", "/v2/x", "/v1/models/m/metadata"]


def _mutate(rng: random.Random, body: bytes) -> bytes:
    """A random byte-level edit of a valid body: what fuzzers do to find parser crashes."""
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.7:
            data[position:position] = bytes(rng.choice(b'{}[]",:\\0x-e.') for _ in range(rng.randint(1, 3)))
        else:
            del data[position:position + rng.randint(1, 5)]
    return bytes(data)


def test_a_thousand_hostile_requests_get_4xx_and_the_server_keeps_serving(exports, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    batching = BatchingParameters(max_batch_size=64, batch_timeout_micros=1000)
    with server.start_server("m", str(base), batching=batching, max_request_bytes=200_000) as handle:
        rng = random.Random(0)
        valid = [b'{"instances": [1.0, 2.0]}', b'{"inputs": {"x": [3.0]}}', b'{"examples": [{"x": 1.0}]}']
        cases = [(path, body) for path in _PATHS for body in _HOSTILE_BODIES]
        cases += [(rng.choice(_PATHS[:4]), _mutate(rng, rng.choice(valid))) for _ in range(1000)]
        cases.append(("/v1/models/m:predict", b"1" * 300_000))  # over the body limit
        statuses = {}
        for path, body in cases:
            status, reply = _call(handle.url + path, raw=body, method="POST")
            assert status < 500, (path, body[:80], reply[:300])
            if status >= 400:
                message = json.loads(reply)["error"]
                assert isinstance(message, str) and message, (path, body[:80])
            statuses[status] = statuses.get(status, 0) + 1
        assert sum(count for status, count in statuses.items() if status >= 400) >= 1000, statuses
        assert {400, 404, 405, 413} <= set(statuses)
        assert _predict(handle.url, "m", 2.0) == (200, {"predictions": [3.0]})


def _grpc_requests(rng: random.Random) -> list[tuple[str, object]]:
    """Hostile gRPC requests as (method, message): every field a client controls, set wrong."""
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                         predict_pb2, regression_pb2)

    def predict(name="m", signature="", version=None, label=None, **inputs):
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = name, signature
        if version is not None:
            request.model_spec.version.value = version
        if label is not None:
            request.model_spec.version_label = label
        for key, tensor in inputs.items():
            request.inputs[key].CopyFrom(tensor)
        return request

    def tensor(dtype=1, dims=(1,), floats=(1.0,), content=b"", strings=()):
        proto = tensor_pb2.TensorProto(dtype=dtype)
        for size in dims:
            proto.tensor_shape.dim.add(size=size)
        proto.float_val.extend(floats)
        proto.string_val.extend(strings)
        proto.tensor_content = content
        return proto

    cases = [("Predict", predict(name=name, x=tensor())) for name in ("", "nope", "../etc", "m\x00", "m" * 10_000)]
    cases += [("Predict", predict(version=99, x=tensor())), ("Predict", predict(label="nope", x=tensor())),
              ("Predict", predict(signature="nope", x=tensor())), ("Predict", predict()),
              ("Predict", predict(x=tensor(), q=tensor())), ("Predict", predict(x=tensor(dims=(1 << 40,)))),
              ("Predict", predict(x=tensor(dims=(-1,)))), ("Predict", predict(x=tensor(dims=(3,), floats=(1.0, 2.0)))),
              ("Predict", predict(x=tensor(dims=(1,), floats=(), content=b"abc"))),
              ("Predict", predict(x=tensor(dims=(0,), floats=()))), ("Predict", predict(x=tensor(dims=(2, 2)))),
              ("Predict", predict(x=tensor(dims=(), floats=(1.0,)))),
              ("Predict", predict(x=tensor(dtype=7, floats=(), strings=(b"\xff",))))]
    cases += [("Predict", predict(x=tensor(dtype=dtype))) for dtype in (0, 2, 3, 9, 10, 19, 20, 21, 999)]
    request = predict(x=tensor())
    request.output_filter.append("nope")
    cases.append(("Predict", request))

    def examples_request(kind, signature="regress_x", examples=(), context=None, name="m"):
        request = (regression_pb2.RegressionRequest if kind == "Regress" else classification_pb2.ClassificationRequest)()
        request.model_spec.name, request.model_spec.signature_name = name, signature
        if context is not None:
            request.input.example_list_with_context.context.CopyFrom(context)
            request.input.example_list_with_context.examples.extend(examples)
        elif examples:
            request.input.example_list.examples.extend(examples)
        return request

    def example(**features):
        return tf.train.Example(features=tf.train.Features(feature=features))

    floats = tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))
    strings = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff"]))
    for kind in ("Regress", "Classify"):
        cases += [(kind, examples_request(kind)), (kind, examples_request(kind, examples=[example()])),
                  (kind, examples_request(kind, examples=[example(x=strings)])),
                  (kind, examples_request(kind, examples=[example(y=floats)])),
                  (kind, examples_request(kind, examples=[example(x=floats)], context=example(x=floats))),
                  (kind, examples_request(kind, signature="serving_default", examples=[example(x=floats)])),
                  (kind, examples_request(kind, signature="nope", examples=[example(x=floats)])),
                  (kind, examples_request(kind, name="nope", examples=[example(x=floats)]))]
    cases.append(("Classify", examples_request("Classify", examples=[example(x=floats)])))  # a regress signature
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "m"
    cases.append(("GetModelMetadata", metadata))
    metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["nope"])
    metadata.model_spec.name = "m"
    cases.append(("GetModelMetadata", metadata))
    for name, version in (("nope", None), ("m", 99)):
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = name
        if version:
            status.model_spec.version.value = version
        cases.append(("GetModelStatus", status))

    valid = [("Predict", predict(x=tensor(dims=(2,), floats=(1.0, 2.0)))),
             ("Regress", examples_request("Regress", examples=[example(x=floats)]))]
    for _ in range(1000):  # byte-level edits of valid requests: undecodable messages and odd field values
        method, message = rng.choice(valid)
        cases.append((method, _mutate(rng, message.SerializeToString())))
    return cases


_GRPC_SERVICES = {"GetModelStatus": "tensorflow.serving.ModelService"}
_CLIENT_ERRORS = {"INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED"}


def test_a_thousand_hostile_grpc_requests_get_client_errors_and_the_server_keeps_serving(exports, tmp_path):
    import grpc

    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    with server.start_server("m", str(base), batching=BatchingParameters(max_batch_size=64)) as handle:
        codes = {}
        with grpc.insecure_channel(handle.grpc_target) as channel:
            for method, message in _grpc_requests(random.Random(0)):
                service = _GRPC_SERVICES.get(method, "tensorflow.serving.PredictionService")
                call = channel.unary_unary(f"/{service}/{method}")  # bytes in, bytes out
                payload = message if isinstance(message, bytes) else message.SerializeToString()
                try:
                    call(payload, timeout=60)
                    code = "OK"
                except grpc.RpcError as error:
                    code = error.code().name
                    assert code in _CLIENT_ERRORS and error.details(), (method, payload[:80], code, error.details())
                codes[code] = codes.get(code, 0) + 1
            assert sum(count for code, count in codes.items() if code != "OK") >= 1000, codes
            assert {"INVALID_ARGUMENT", "NOT_FOUND"} <= set(codes)
        assert _predict(handle.url, "m", 2.0) == (200, {"predictions": [3.0]})


# --- versions on disk ------------------------------------------------------------------------------


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_hot_swap_under_load_fails_no_request(exports, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    spec = ModelSpec("m", str(base), VersionPolicy("latest", 1))
    batching = BatchingParameters(batch_timeout_micros=500)
    with server.start_server(specs=[spec], poll_seconds=0.2, batching=batching) as h:
        results, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                results.append(_predict(h.url, "m", 0.0))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        shutil.copytree(exports / "2", base / "2")  # push version 2; version 1 is retired by the policy
        _wait_for(lambda: h.manager.get_model("m").versions.keys() == {2})
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
    assert all(status == 200 for status, _ in results)
    answers = [reply["predictions"][0] for _, reply in results]
    assert answers[0] == 2.0 and answers[-1] == 3.0
    assert answers.index(3.0) > 0 and 2.0 not in answers[answers.index(3.0) + 20:]  # switched, not flapping


def test_broken_version_is_skipped_and_reported_while_the_previous_serves(exports, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    with server.start_server("m", str(base), poll_seconds=0.2) as handle:
        broken = base / "2"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a proto")
        _wait_for(lambda: 2 in handle.manager.get_model("m").history)
        assert _predict(handle.url, "m", 2.0) == (200, {"predictions": [3.0]})
        _, status = _call(f"{handle.url}/v1/models/m")
        by_version = {s["version"]: s for s in json.loads(status)["model_version_status"]}
        assert by_version["1"]["state"] == "AVAILABLE"
        assert by_version["2"]["state"] == "END" and "unreadable" in by_version["2"]["status"]["error_message"]
        shutil.rmtree(broken)  # a fixed copy of the version is picked up on a later poll
        shutil.copytree(exports / "3", broken)
        _wait_for(lambda: 2 in handle.manager.get_model("m").versions)
        assert _predict(handle.url, "m", 2.0) == (200, {"predictions": [5.0]})


def test_warmup_failure_keeps_a_version_from_serving(exports, tmp_path):
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    shutil.copytree(exports / "2", base / "2")
    request = predict_pb2.PredictRequest()
    request.inputs["not_an_input"].CopyFrom(tf.make_tensor_proto([1.0]))
    (base / "2" / "assets.extra").mkdir()
    with tf.io.TFRecordWriter(str(base / "2" / "assets.extra" / "tf_serving_warmup_requests")) as writer:
        writer.write(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
    with server.start_server("m", str(base)) as handle:
        assert handle.version == 1
        assert "warm-up record 0" in handle.manager.get_model("m").history[2].error


def test_models_config_serves_several_models_with_policies_and_labels(exports, tmp_path):
    for name in ("a", "b"):
        for version in (1, 2, 3):
            shutil.copytree(exports / str(version), tmp_path / "root" / name / str(version))
    specs = discover_models(str(tmp_path / "root"), VersionPolicy.parse("latest:2"))
    config = tmp_path / "models.config"
    config.write_text(models_config_text(specs).replace(
        "model_platform", 'version_labels { key: "stable" value: 2 }\n    model_platform', 1))
    parsed = read_models_config(str(config))
    assert [(s.name, s.policy, dict(s.labels)) for s in parsed] == [
        ("a", VersionPolicy("latest", 2), {"stable": 2}), ("b", VersionPolicy("latest", 2), {})]
    parsed[1] = ModelSpec("b", parsed[1].base_path, VersionPolicy.parse("specific:1,3"))
    with server.start_server(specs=parsed) as handle:
        assert set(handle.manager.get_model("a").versions) == {2, 3}
        assert set(handle.manager.get_model("b").versions) == {1, 3}
        status, body = _call(f"{handle.url}/v1/models/a/labels/stable:predict", {"instances": [0.0]})
        assert (status, json.loads(body)) == (200, {"predictions": [3.0]})
        status, body = _call(f"{handle.url}/v1/models/a/labels/canary")
        assert status == 404 and "canary" in json.loads(body)["error"]


def test_export_config_cli_writes_a_loadable_config(exports, tmp_path, capsys):
    from zoo.cli import main

    shutil.copytree(exports / "1", tmp_path / "movielens_ctr" / "1")
    assert main(["export-config", str(tmp_path), "--base_path_prefix", "/models", "--model_version_policy", "all"]) == 0
    text = (tmp_path / "models.config").read_text()
    assert 'name: "movielens_ctr"' in text and 'base_path: "/models/movielens_ctr"' in text and "all {" in text


def test_model_names_in_config_cannot_be_paths():
    from serving.errors import ModelLoadError

    for bad in ("../x", "a/b", "", " x"):
        with pytest.raises(ModelLoadError):
            ModelSpec(bad, "/tmp")


# --- batching ----------------------------------------------------------------------------------------


def test_batching_parameters_read_tf_servings_text_format():
    text = "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\nnum_batch_threads { value: 2 }\n"
    assert parse_batching_parameters(text) == BatchingParameters(32, 2000, 10, 2)
    with pytest.raises(ValueError):
        parse_batching_parameters("max_batch_size { value: 0 }")


def test_batcher_merges_concurrent_requests_and_isolates_a_bad_one():
    calls = []

    def run(inputs):
        calls.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise InvalidArgument("negative")
        return {"y": inputs["x"] * 2}

    batcher = Batcher(run, BatchingParameters(max_batch_size=9, batch_timeout_micros=2_000_000, max_enqueued_batches=2))
    values = [np.array([float(i), float(i)]) for i in range(4)] + [np.array([-1.0])]
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(batcher.submit, {"x": v}) for v in values]
        outcomes = [f.exception() or f.result()["y"].tolist() for f in futures]
    batcher.stop()
    assert outcomes[:4] == [[0.0, 0.0], [2.0, 2.0], [4.0, 4.0], [6.0, 6.0]]
    assert isinstance(outcomes[4], InvalidArgument)
    assert calls[0] == 9  # all five requests shared one call, which failed: each was rerun alone
    with pytest.raises(InvalidArgument, match="larger than maximum"):
        batcher.submit({"x": np.zeros(10)})


def test_full_batch_queue_is_refused_with_unavailable():
    release = threading.Event()
    batcher = Batcher(lambda inputs: release.wait() and {"y": inputs["x"]},
                      BatchingParameters(max_batch_size=1, batch_timeout_micros=0, max_enqueued_batches=1))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(batcher.submit, {"x": np.zeros(1)})
        _wait_for(lambda: batcher._queued_rows == 0)  # the first request left the queue and runs
        queued = pool.submit(batcher.submit, {"x": np.zeros(1)})
        _wait_for(lambda: batcher._queued_rows == 1)
        with pytest.raises(Unavailable, match="queue"):
            batcher.submit({"x": np.zeros(1)})
        release.set()
        assert running.result()["y"].tolist() == queued.result()["y"].tolist() == [0.0]
    batcher.stop()


# --- metrics, health, limits, shutdown -------------------------------------------------------------


def test_metrics_health_and_body_limit(exports, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    with server.start_server("m", str(base), max_request_bytes=1000) as handle:
        for x in (1.0, 2.0):
            _predict(handle.url, "m", x)
        _call(f"{handle.url}/v1/models/m:predict", raw=b"{")
        status, body = _call(f"{handle.url}/v1/models/m:predict", raw=b" " * 2000)
        assert status == 413 and "exceeds" in json.loads(body)["error"]
        status, health = _call(f"{handle.url}/v1/health")
        assert (status, json.loads(health)) == (200, {"status": "SERVING", "models": {"m": ["1"]}})
        status, text = _call(f"{handle.url}/monitoring/prometheus/metrics")
    text = text.decode()
    labels = 'model="m",version="1",api="predict",protocol="rest"'
    assert f'zoo_serving_requests_total{{{labels},code="200"}} 2' in text
    assert f'zoo_serving_requests_total{{{labels},code="400"}} 1' in text
    assert f"zoo_serving_request_errors_total{{{labels}}} 1" in text
    assert f'zoo_serving_request_latency_seconds_bucket{{{labels},le="+Inf"}} 3' in text
    assert 'zoo_serving_model_versions_available{model="m"} 1' in text


def test_stop_drains_in_flight_requests(exports, tmp_path):
    base = tmp_path / "m"
    shutil.copytree(exports / "1", base / "1")
    handle = server.start_server("m", str(base), batching=BatchingParameters(batch_timeout_micros=1_500_000))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_predict, handle.url, "m", 4.0)  # waits 1.5 s in the batch queue
        _wait_for(lambda: handle.http_server._in_flight == 1)
        handle.stop()
        assert pending.result() == (200, {"predictions": [4.0]})
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{handle.url}/v1/health", timeout=5)
