"""Exports a trained model as a servable SavedModel with the Transform graph inside.

Signatures (all apply the raw schema's parsing, Transform, then the model):

- ``serving_default``: serialized ``tf.Example``s of *raw* features (TF Serving's ``examples`` input),
  returning the model's named outputs (one per head of a multi-task model). TFMA evaluates through it.
  An image model's (its schema has a ``zoo.kind=image`` feature) takes the encoded images themselves
  instead, as its ``predict_raw`` does (``{"b64": ...}`` over REST); its tf.Example signature, the one
  TFMA evaluates, is ``serving_examples``.
- ``predict_raw``: one named tensor per raw feature, so JSON clients need no tf.Example. A
  single-valued optional feature is ``[batch]``, a multi-valued one ``[batch, n]``; in both, 0 (or
  ``""`` for strings) means "no value", as an absent feature in a tf.Example.
- ``classify`` (method ``tensorflow/serving/classify``, input ``inputs``) when the model outputs one
  probability per example (the ranking/CTR task): classes ``"0"``/``"1"`` with scores ``1 - p``/``p``;
  for an image classifier (output ``probabilities``, one per class), classes ``"0"`` to ``"N-1"`` (the
  label's class indices) with their probabilities. Where the schema names the label's classes
  (``zoo.class_names``), the classes are those names.
- ``regress`` (method ``tensorflow/serving/regress``, input ``inputs``, output ``outputs``) for the same
  models: ``p`` itself, as TF's canned binary classifiers also export it, for clients that want one
  score per example (ranking by CTR) through TF Serving's Regress API.
- A multi-task model has these per head: ``classify_<head>`` (binary heads) and ``regress_<head>``.
- A segmentation model returns, beside its ``probabilities`` map, the mask as a tensor, ``mask``
  (``[batch, height, width, 1]`` uint8: 1 where a one-channel model's probability is 0.5 or more, else
  the most probable class), and as a grey PNG, ``mask_png_bytes`` (0/255 for one channel, else the class
  indices; TF Serving's REST API sends outputs named ``*_bytes`` as ``{"b64": ...}``).

``assets.extra/`` holds the model card (``zoo_card.json``) and TF Serving warm-up requests
(``tf_serving_warmup_requests``, ``PredictionLog`` records) built from the given real examples.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import tensorflow_transform as tft
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_log_pb2, regression_pb2

from pipelines.tasks import EXAMPLES_SIGNATURE
from pipelines.transform import raw_serving_spec
from zoo.backend import tf
from zoo.layers.vision import PROBABILITIES
from zoo.schema import BINARY, IMAGE, MULTICLASS, REGRESSION, class_names, schema_features

SERVING_INPUT = "examples"
CLASSIFY_INPUT = "inputs"  # TF Serving's required input key for classify signatures
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
REGRESS_OUTPUT = "outputs"  # TF Serving's required output key for regress signatures
RAW_SIGNATURE = "predict_raw"
CLASSIFY_SIGNATURE = "classify"
REGRESS_SIGNATURE = "regress"
METHODS = {CLASSIFY_SIGNATURE: CLASSIFY_METHOD, REGRESS_SIGNATURE: REGRESS_METHOD}
CARD_FILE = "zoo_card.json"
WARMUP_FILE = "tf_serving_warmup_requests"
WARMUP_BATCH = 8  # examples per warm-up request
MASK = "mask"  # a segmentation model's mask: 0/1, or the class index
MASK_PNG = "mask_png_bytes"  # the mask as a PNG


def _predict_raw_features(model, raw_features, inputs: dict[str, str]) -> dict:
    """The model's outputs by name on raw features (Transform applied); ``inputs`` renames transformed
    features to the model's inputs of other names."""
    transformed = model.tft_layer(raw_features)
    input_names = [i.name.split(":")[0] for i in model.inputs]
    outputs = model({name: transformed[inputs.get(name, name)] for name in input_names})
    outputs = outputs if isinstance(outputs, dict) else {model.output_names[0]: outputs}
    probabilities = outputs.get(PROBABILITIES)
    if probabilities is not None and probabilities.shape.rank == 4:  # a segmentation model
        if probabilities.shape[-1] == 1:
            mask = tf.cast(probabilities >= 0.5, tf.uint8)
            grey = mask * 255  # visible as black and white
        else:
            mask = grey = tf.cast(tf.argmax(probabilities, axis=-1), tf.uint8)[..., None]
        outputs[MASK] = mask
        outputs[MASK_PNG] = tf.map_fn(tf.io.encode_png, grey, fn_output_signature=tf.string)
    return outputs


def _heads(model) -> dict[str, str]:
    """The outputs that score each example, by name: binary (a probability), regression, or multiclass
    (a probability per class)."""
    tasks = getattr(model, "tasks", None)
    if tasks:  # a multi-task model: one head per task
        return {task["name"]: task["type"] for task in tasks}
    if model.outputs[0].shape[1:] == (1,):  # a ranking model: the click probability
        return {model.output_names[0]: BINARY}
    if model.output_names == [PROBABILITIES] and model.outputs[0].shape.rank == 2:  # an image classifier
        return {PROBABILITIES: MULTICLASS}
    return {}


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


def as_parsed(parse_spec, inputs):
    """The dense inputs shaped as ``tf.io.parse_example`` returns them (sparse for variable length)."""
    parsed = {}
    for name, feature in parse_spec.items():
        value = inputs[name]
        if isinstance(feature, tf.io.FixedLenFeature):
            parsed[name] = value
        else:
            parsed[name] = tf.sparse.from_dense(value if value.shape.rank == 2 else value[:, None])
    return parsed


def serving_signatures(model, tf_transform_output: tft.TFTransformOutput, schema,
                       inputs: dict[str, str] | None = None) -> dict[str, Any]:
    """The concrete signature functions for ``model``, by signature key; ``inputs`` maps model inputs
    to the transformed features they read where the names differ (an image model's ``image``)."""
    inputs = dict(inputs or {})
    # Tracked on the model so that the Transform graph's assets are saved with it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    parse_spec = raw_serving_spec(schema)

    # Traced once and called by every signature on serialized examples, so exporting costs one trace of
    # the model (plus predict_raw's) however many such signatures there are.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def predict_examples(examples):
        return _predict_raw_features(model, tf.io.parse_example(examples, parse_spec), inputs)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])
    def serve_examples(examples):
        return predict_examples(examples)

    @tf.function(input_signature=[_raw_input_specs(schema, parse_spec)])
    def serve_raw(features):
        return _predict_raw_features(model, as_parsed(parse_spec, features), inputs)

    examples, raw = serve_examples.get_concrete_function(), serve_raw.get_concrete_function()
    features = schema_features(schema)
    if any(feature.kind == IMAGE for feature in features):
        signatures = {"serving_default": raw, RAW_SIGNATURE: raw, EXAMPLES_SIGNATURE: examples}
    else:
        signatures = {"serving_default": examples, RAW_SIGNATURE: raw}
    heads = _heads(model)
    for head, kind in heads.items():
        suffix = "" if len(heads) == 1 else f"_{head}"
        if kind in (BINARY, MULTICLASS):
            # A multi-task model's heads are named after their labels; a single head scores the first label.
            names = class_names(features, head if len(heads) > 1 else None)
            signatures[CLASSIFY_SIGNATURE + suffix] = _classify_function(predict_examples, head, kind, names
                                                                         ).get_concrete_function()
        if kind in (BINARY, REGRESSION):
            signatures[REGRESS_SIGNATURE + suffix] = _regress_function(predict_examples, head).get_concrete_function()
    return signatures


def _classify_function(predict_examples, head: str, kind: str, names: Sequence[str] | None):
    # No AutoGraph: the branches are Python, decided while tracing.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT)], autograph=False)
    def classify(inputs):
        scores = tf.cast(predict_examples(inputs)[head], tf.float32)
        if kind == BINARY:  # the positive class' probability
            scores = tf.concat([1 - scores, scores], axis=1)
        classes = tf.constant(names) if names else tf.strings.as_string(tf.range(tf.shape(scores)[1]))
        return {"classes": tf.tile(classes[None], [tf.shape(scores)[0], 1]), "scores": scores}

    return classify


def _regress_function(predict_examples, head: str):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CLASSIFY_INPUT)])
    def regress(inputs):
        return {REGRESS_OUTPUT: tf.cast(predict_examples(inputs)[head], tf.float32)[:, 0]}

    return regress


def export_serving_model(model, tf_transform_output: tft.TFTransformOutput, schema, export_dir: str, *,
                         card=None, warmup_examples: Sequence[bytes] = (), inputs: dict[str, str] | None = None) -> str:
    """Saves ``model`` for TF Serving; ``card`` (a ``zoo.ModelCard``) and real serialized raw
    ``warmup_examples`` go to ``assets.extra``; ``inputs`` as in ``serving_signatures``."""
    signatures = serving_signatures(model, tf_transform_output, schema, inputs)
    # No per-layer traces: the serving signatures are the graph servers use, and Keras rebuilds the model
    # from its registered config (every zoo layer is get_config-complete), so tracing each layer's call
    # again would only cost time (about half of an export) and space.
    model.save(export_dir, save_format="tf", signatures=signatures, save_traces=False)
    methods = {key: _method(key) for key in signatures}
    _set_method_names(export_dir, {key: method for key, method in methods.items() if method})
    if card is not None:
        write_card(export_dir, card)
    if warmup_examples:
        write_warmup_requests(export_dir, list(warmup_examples))
    return export_dir


def write_card(export_dir: str, card) -> None:
    """Writes the model card (a ``zoo.ModelCard``) to ``assets.extra/zoo_card.json``."""
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, CARD_FILE), "w") as stream:
        stream.write(json.dumps(card.to_dict(), indent=2, default=list) + "\n")


def _method(key: str) -> str | None:
    """The TF Serving method of a signature key: ``classify`` and ``classify_<head>`` classify, and so on."""
    return next((method for prefix, method in METHODS.items() if key == prefix or key.startswith(prefix + "_")), None)


def _saved_model_proto(export_dir: str):
    # The proto module has no tf.* alias; TensorFlow is already loaded through zoo.backend.
    from tensorflow.core.protobuf import saved_model_pb2

    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pb"), "rb") as stream:
        return saved_model_pb2.SavedModel.FromString(stream.read())


def _set_method_names(export_dir: str, methods: dict[str, str]) -> None:
    """TF2 saves every signature as predict; TF Serving's Classify and Regress APIs require their methods."""
    if not methods:
        return
    saved_model = _saved_model_proto(export_dir)
    for meta_graph in saved_model.meta_graphs:
        for key, method_name in methods.items():
            meta_graph.signature_def[key].method_name = method_name
    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pb"), "wb") as stream:
        stream.write(saved_model.SerializeToString())


# Warm-up records for the example-based APIs, by method: log field, request and log message.
_EXAMPLE_APIS = {
    CLASSIFY_METHOD: ("classify_log", classification_pb2.ClassificationRequest, prediction_log_pb2.ClassifyLog),
    REGRESS_METHOD: ("regress_log", regression_pb2.RegressionRequest, prediction_log_pb2.RegressLog),
}


def _predict_request(key: str, signature_def, batch: list[bytes]) -> predict_pb2.PredictRequest:
    """Predict on signature ``key`` for the serialized raw examples ``batch``: the examples themselves, or,
    where the signature takes raw features (an image model's ``serving_default``), each example's value of
    each input's feature."""
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = key
    if set(signature_def.inputs) == {SERVING_INPUT}:
        request.inputs[SERVING_INPUT].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
        return request
    features = [tf.train.Example.FromString(example).features.feature for example in batch]
    for name in signature_def.inputs:
        values = [feature[name].bytes_list.value[0] for feature in features]
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=tf.string))
    return request


def write_warmup_requests(export_dir: str, examples: list[bytes]) -> str:
    """Writes ``assets.extra/tf_serving_warmup_requests``: ``PredictionLog`` records that TF Serving
    replays before serving, over batches of the given serialized raw examples: Predict on
    ``serving_default`` (and ``serving_examples`` where it has it), and Classify / Regress where the
    SavedModel has those signatures."""
    signature_defs = _saved_model_proto(export_dir).meta_graphs[0].signature_def
    predicted = [key for key in ("serving_default", EXAMPLES_SIGNATURE) if key in signature_defs]
    example_apis = sorted((key, signature.method_name) for key, signature in signature_defs.items()
                          if signature.method_name in _EXAMPLE_APIS)
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    path = os.path.join(extra, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for start in range(0, len(examples), WARMUP_BATCH):
            batch = examples[start:start + WARMUP_BATCH]
            records = [prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(
                request=_predict_request(key, signature_defs[key], batch))) for key in predicted]
            for key, method in example_apis:
                log_field, request_type, log_type = _EXAMPLE_APIS[method]
                request = request_type()
                request.model_spec.signature_name = key
                for example in batch:
                    request.input.example_list.examples.add().ParseFromString(example)
                records.append(prediction_log_pb2.PredictionLog(**{log_field: log_type(request=request)}))
            for record in records:
                writer.write(record.SerializeToString())
    return path
