"""Exports a trained model as a servable SavedModel with the Transform graph inside.

Signatures (all apply the raw schema's parsing, Transform, then the model):

- ``serving_default``: serialized ``tf.Example``s of *raw* features (TF Serving's ``examples`` input),
  returning the model's named output. TFMA evaluates through it.
- ``predict_raw``: one named tensor per raw feature, so JSON clients need no tf.Example. A
  single-valued optional feature is ``[batch]``, a multi-valued one ``[batch, n]``; in both, 0 (or
  ``""`` for strings) means "no value", as an absent feature in a tf.Example.
- ``classify`` (method ``tensorflow/serving/classify``, input ``inputs``) when the model outputs one
  probability per example (the ranking/CTR task): classes ``"0"``/``"1"`` with scores ``1 - p``/``p``.

``assets.extra/`` holds the model card (``zoo_card.json``) and TF Serving warm-up requests
(``tf_serving_warmup_requests``, ``PredictionLog`` records) built from the given real examples.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import tensorflow_transform as tft
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_log_pb2

from pipelines.transform import raw_serving_spec
from zoo.backend import tf

SERVING_INPUT = "examples"
CLASSIFY_INPUT = "inputs"  # TF Serving's required input key for classify signatures
CLASSIFY_METHOD = "tensorflow/serving/classify"
RAW_SIGNATURE = "predict_raw"
CLASSIFY_SIGNATURE = "classify"
CARD_FILE = "zoo_card.json"
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH = 8  # examples per warm-up request


def _predict_raw_features(model, raw_features):
    transformed = model.tft_layer(raw_features)
    input_names = [i.name.split(":")[0] for i in model.inputs]
    return model({name: transformed[name] for name in input_names})


def _raw_input_specs(schema, parse_spec) -> dict[str, tf.TensorSpec]:
    """One dense input per raw feature: ``[batch, *shape]``, and for a variable-length one ``[batch]``
    when the schema allows at most one value, else ``[batch, None]`` padded with 0 / ``""``."""
    max_counts = {f.name: f.value_count.max for f in schema.feature if f.HasField("value_count")}
    specs = {}
    for name, feature in sorted(parse_spec.items()):
        if isinstance(feature, tf.io.FixedLenFeature):
            shape = [None, *feature.shape]
        else:
            shape = [None] if max_counts.get(name) == 1 else [None, None]
        specs[name] = tf.TensorSpec(shape, feature.dtype, name=name)
    return specs


def _as_parsed(parse_spec, inputs):
    """The dense inputs shaped as ``tf.io.parse_example`` returns them (sparse for variable length)."""
    parsed = {}
    for name, feature in parse_spec.items():
        value = inputs[name]
        if isinstance(feature, tf.io.FixedLenFeature):
            parsed[name] = value
        else:
            parsed[name] = tf.sparse.from_dense(value if value.shape.rank == 2 else value[:, None])
    return parsed


def serving_signatures(model, tf_transform_output: tft.TFTransformOutput, schema) -> dict[str, Any]:
    """The concrete signature functions for ``model``, by signature key."""
    # Tracked on the model so that the Transform graph's assets are saved with it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    parse_spec = raw_serving_spec(schema)
    (output_name,) = model.output_names

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])
    def serve_examples(examples):
        return {output_name: _predict_raw_features(model, tf.io.parse_example(examples, parse_spec))}

    @tf.function(input_signature=[_raw_input_specs(schema, parse_spec)])
    def serve_raw(features):
        return {output_name: _predict_raw_features(model, _as_parsed(parse_spec, features))}

    signatures = {
        "serving_default": serve_examples.get_concrete_function(),
        RAW_SIGNATURE: serve_raw.get_concrete_function(),
    }
    if model.outputs[0].shape[1:] == (1,):  # one probability per example: binary classification

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT)])
        def classify(inputs):
            positive = _predict_raw_features(model, tf.io.parse_example(inputs, parse_spec))
            positive = tf.cast(positive, tf.float32)
            classes = tf.tile(tf.constant([["0", "1"]]), [tf.shape(positive)[0], 1])
            return {"classes": classes, "scores": tf.concat([1 - positive, positive], axis=1)}

        signatures[CLASSIFY_SIGNATURE] = classify.get_concrete_function()
    return signatures


def serving_signature(model, tf_transform_output: tft.TFTransformOutput, schema):
    """The concrete ``serving_default`` function for ``model``."""
    return serving_signatures(model, tf_transform_output, schema)["serving_default"]


def export_serving_model(model, tf_transform_output: tft.TFTransformOutput, schema, export_dir: str, *,
                         card=None, warmup_examples: Sequence[bytes] = ()) -> str:
    """Saves ``model`` for TF Serving; ``card`` (a ``zoo.ModelCard``) and real serialized raw
    ``warmup_examples`` go to ``assets.extra``."""
    signatures = serving_signatures(model, tf_transform_output, schema)
    model.save(export_dir, save_format="tf", signatures=signatures)
    if CLASSIFY_SIGNATURE in signatures:
        _set_method_name(export_dir, CLASSIFY_SIGNATURE, CLASSIFY_METHOD)
    extra = os.path.join(export_dir, "assets.extra")
    if card is not None:
        tf.io.gfile.makedirs(extra)
        with tf.io.gfile.GFile(os.path.join(extra, CARD_FILE), "w") as stream:
            stream.write(json.dumps(card.to_dict(), indent=2, default=list) + "\n")
    if warmup_examples:
        tf.io.gfile.makedirs(extra)
        write_warmup_requests(os.path.join(extra, WARMUP_FILE), list(warmup_examples),
                              classify=CLASSIFY_SIGNATURE in signatures)
    return export_dir


def _set_method_name(export_dir: str, key: str, method_name: str) -> None:
    """TF2 saves every signature as predict; TF Serving's Classify API requires the classify method."""
    # The proto module has no tf.* alias; TensorFlow is already loaded through zoo.backend.
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel.FromString(tf.io.gfile.GFile(path, "rb").read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[key].method_name = method_name
    with tf.io.gfile.GFile(path, "wb") as stream:
        stream.write(saved_model.SerializeToString())


def write_warmup_requests(path: str, examples: list[bytes], classify: bool) -> None:
    """``PredictionLog`` records TF Serving replays before serving: Predict on ``serving_default`` and,
    when exported, Classify, over batches of the given examples."""
    with tf.io.TFRecordWriter(path) as writer:
        for start in range(0, len(examples), WARMUP_BATCH):
            batch = examples[start:start + WARMUP_BATCH]
            predict = predict_pb2.PredictRequest()
            predict.model_spec.signature_name = "serving_default"
            predict.inputs[SERVING_INPUT].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            records = [prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=predict))]
            if classify:
                request = classification_pb2.ClassificationRequest()
                request.model_spec.signature_name = CLASSIFY_SIGNATURE
                for example in batch:
                    request.input.example_list.examples.add().ParseFromString(example)
                records.append(prediction_log_pb2.PredictionLog(
                    classify_log=prediction_log_pb2.ClassifyLog(request=request)))
            for record in records:
                writer.write(record.SerializeToString())
