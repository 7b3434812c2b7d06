"""Image classification through the real pipeline: scikit-learn's handwritten digits (real 8x8 images)
written as an image folder of PNGs, then tf.Examples of the encoded bytes; Transform decodes them, a
small DenseNet-BC trains, the Evaluator gates on accuracy, and the pushed model serves encoded images on serving_default.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

from pipelines.run import run_pipeline
from zoo.backend import tf

pytestmark = pytest.mark.slow
BATCH = 128


CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(scope="module")
def config(small_image_config):
    config = small_image_config("digits_images", "16x16x1")
    schema = pathlib.Path(config.schema)  # the label's classes named, so that classify answers with the names
    text = schema.read_text()
    assert text.count('tag: "zoo.role=label"') == 1
    schema.write_text(text.replace('tag: "zoo.role=label"',
                                   f'tag: "zoo.role=label" tag: "zoo.class_names={",".join(CLASS_NAMES)}"'))
    return config.replace(
        model=dataclasses.replace(config.model, hparams={"block_config": [2, 2], "growth_rate": 8}),
        training=dataclasses.replace(config.training, train_steps=150, eval_steps=4, batch_size=32),
        evaluation=dataclasses.replace(config.evaluation, min_accuracy=0.5),
    )


@pytest.fixture(scope="module")
def held_out(config, read_eval_split) -> tuple[list[bytes], np.ndarray]:
    """The eval split's serialized examples and labels."""
    examples = read_eval_split(config, "ImportExampleGen")
    labels = np.array([tf.train.Example.FromString(e).features.feature["label"].int64_list.value[0] for e in examples])
    return examples, labels


def _probabilities(pushed_path: str, examples: list[bytes]) -> np.ndarray:
    """What the signature that TFMA evaluates returns for the serialized examples."""
    serve = tf.saved_model.load(pushed_path).signatures["serving_examples"]
    return np.concatenate([serve(examples=tf.constant(examples[i:i + BATCH]))["probabilities"].numpy()
                           for i in range(0, len(examples), BATCH)])


def test_the_classifier_is_blessed_and_pushed(summary):
    assert 0.5 < summary.metrics["accuracy"] <= summary.metrics["top_5_accuracy"] <= 1.0
    assert summary.blessed and summary.pushed_path


def test_the_evaluators_accuracy_is_that_of_the_pushed_model(summary, held_out):
    """Recounted from the pushed model's answers on every held-out image."""
    examples, labels = held_out
    probabilities = _probabilities(summary.pushed_path, examples)
    assert probabilities.shape == (len(examples), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    top_5 = np.argsort(-probabilities, axis=1)[:, :5]
    assert summary.metrics["example_count"] == len(examples)
    assert summary.metrics["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels), abs=1e-6)
    assert summary.metrics["top_5_accuracy"] == pytest.approx(np.mean((top_5 == labels[:, None]).any(axis=1)),
                                                              abs=1e-6)


def test_the_report_shows_the_confusion_matrix_of_the_pushed_model(summary, config, held_out):
    """TFMA's matrix (read back from the Evaluator's output, as the report does) is the one recounted from
    the pushed model's top classes."""
    from collections import Counter

    from pipelines.runs import list_runs, read_evaluation

    examples, labels = held_out
    predicted = _probabilities(summary.pushed_path, examples).argmax(axis=1)
    expected = Counter(zip(labels.tolist(), predicted.tolist()))
    (run,) = [r for r in list_runs(config.metadata_path, config.pipeline_name) if r.run_id == summary.run_id]
    confusion = read_evaluation(run.models[0].evaluation_uri).confusion
    assert {pair: count for pair, count in confusion.items() if count} == expected
    assert "Confusion matrix" in pathlib.Path(summary.report_path).read_text()


def test_a_model_below_the_accuracy_threshold_is_not_pushed(summary, config):
    from pipelines.runs import list_runs

    strict = config.replace(evaluation=dataclasses.replace(config.evaluation, min_accuracy=0.9999))
    refused = run_pipeline(strict, echo=lambda line: None)
    assert not refused.blessed and refused.pushed_path is None
    (failure,) = refused.models[0].failures
    assert failure.startswith("accuracy is ")
    # The images were written again as the same records, so only the Evaluator, whose threshold changed, ran.
    states = list_runs(config.metadata_path, config.pipeline_name)[-1].states()
    assert all(states[name] == "CACHED" for name in ("ImportExampleGen", "StatisticsGen", "Transform", "Trainer"))
    assert states["Evaluator"] == "COMPLETE"


def test_the_pushed_model_serves_encoded_images(summary, config, held_out, caplog):
    """REST clients send the PNG bytes on serving_default (``{"b64": ...}``, bare or named, as TF Serving
    takes a one-input signature's instances), or tf.Examples holding them (serving_examples, classify);
    all give the probabilities that the Evaluator scored. The warm-up requests use the same three."""
    from tensorflow_serving.apis import prediction_log_pb2

    from pipelines.demo import http_json
    from serving.codec import example_to_json
    from serving.server import start_server

    examples, labels = held_out
    examples = [examples[int(np.argmax(labels == digit))] for digit in range(0, 10, 2)]  # five classes
    images = [tf.train.Example.FromString(e).features.feature["image"].bytes_list.value[0] for e in examples]
    assert all(image.startswith(b"\x89PNG") for image in images)
    expected = _probabilities(summary.pushed_path, examples)
    b64 = [{"b64": base64.b64encode(image).decode()} for image in images]
    name = config.serving_model_name
    with caplog.at_level("INFO", logger="serving.model_manager"):
        with start_server(name, str(pathlib.Path(summary.pushed_path).parent)) as server:
            url = f"{server.url}/v1/models/{name}"
            bare = http_json(f"{url}:predict", {"instances": b64})
            named = http_json(f"{url}:predict", {"signature_name": "predict_raw",
                                                 "instances": [{"image": image} for image in b64]})
            classified = http_json(f"{url}:classify", {"signature_name": "classify",
                                                       "examples": [example_to_json(e) for e in examples]})
    # One output: TF Serving's row format gives each prediction as the bare list of probabilities.
    np.testing.assert_allclose(bare["predictions"], expected, atol=1e-6)
    np.testing.assert_allclose(named["predictions"], expected, atol=1e-6)
    for result, probabilities in zip(classified["results"], expected):
        assert [label for label, _ in result] == list(CLASS_NAMES)
        np.testing.assert_allclose([score for _, score in result], probabilities, atol=1e-6)
    assert "regress" not in tf.saved_model.load(summary.pushed_path).signatures  # classes have no single value

    warmup = pathlib.Path(summary.pushed_path, "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in tf.compat.v1.io.tf_record_iterator(str(warmup))]
    assert [(log.WhichOneof("log_type"), getattr(log, log.WhichOneof("log_type")).request.model_spec.signature_name)
            for log in logs] == [("predict_log", "serving_default"), ("predict_log", "serving_examples"),
                                 ("classify_log", "classify")] * 4
    warm_images = tf.make_ndarray(logs[0].predict_log.request.inputs["image"])
    assert len(warm_images) == 8 and all(image.startswith(b"\x89PNG") for image in warm_images)
    assert "replayed 12 warm-up requests" in caplog.text
