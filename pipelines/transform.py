"""The Transform step, generated from the schema: no per-model or per-data-set code.

For every schema feature (see ``zoo.schema`` for the tags):

- categorical: a vocabulary (``tft.compute_and_apply_vocabulary``, one OOV bucket) or hash
  buckets; ids are shifted by one so that 0 means missing.
- sequence: split (``zoo.delimiter``) or take the values, truncate to ``zoo.max_len``, encode
  like a categorical, right-pad with 0 to ``[batch, max_len]``.
- numeric: missing values filled with the mean, then a z-score; with ``zoo.num_buckets`` also a
  quantile bucket id ``<name>_bucket`` (0 = missing).
- label: float32; a mask label (``zoo.image_shape``) decoded like an image but resized to the nearest
  pixel and thresholded at 0.5: float32 ``[batch, H, W, 1]`` of 0 and 1; with ``zoo.mask_classes=N`` its
  pixel values are the class ids, float32 ``[batch, H, W, 1]`` of 0 to N-1. Passthrough features are dropped.
- image: the encoded bytes decoded (PNG, JPEG, GIF, BMP) to ``zoo.image_shape`` channels, scaled to
  [0, 1] and resized (bilinear) to its height and width: float32 ``[batch, H, W, C]``. Augmentation is
  the Trainer's (``pipelines.images``), so serving and evaluation see the image as it is.
- ``zoo.shares=OTHER``: encoded with OTHER's vocabulary (or hash buckets), so equal values get
  equal ids in both features.

The vocabulary files are named after their features, so ``feature_spec`` can read their sizes.
"""
from __future__ import annotations

from typing import Any, Mapping

import tensorflow_transform as tft
from tensorflow_transform.tf_metadata import schema_utils

from zoo import schema as schema_lib
from zoo.backend import tf
from zoo.features import FeatureSpec

SCHEMA_KEY = "schema"  # custom_config key holding the schema as pbtxt text


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any]) -> dict[str, Any]:
    """TFX Transform entry point; ``custom_config[SCHEMA_KEY]`` is the raw schema as text."""
    outputs = {}
    features = schema_lib.schema_features(schema_lib.parse_schema(custom_config[SCHEMA_KEY]))
    encoders = _encoders(features, inputs)
    for feature in features:
        if feature.name not in inputs:
            raise KeyError(f"schema feature {feature.name!r} is missing from the data")
        x = inputs[feature.name]
        if feature.kind == schema_lib.LABEL and feature.image_shape:
            outputs[feature.name] = decode_masks(_dense_column(x, ""), feature.image_shape, feature.num_classes)
        elif feature.kind == schema_lib.LABEL:
            outputs[feature.name] = tf.cast(_dense_column(x, 0), tf.float32)
        elif feature.kind == schema_lib.CATEGORICAL:
            outputs[feature.name] = _categorical(encoders[feature.name], x)
        elif feature.kind == schema_lib.SEQUENCE:
            outputs[feature.name] = _sequence(feature, encoders[feature.name], x)
        elif feature.kind == schema_lib.NUMERIC:
            outputs.update(_numeric(feature, x))
        elif feature.kind == schema_lib.IMAGE:
            outputs[feature.name] = decode_images(_dense_column(x, ""), feature.image_shape)
    return outputs


def decode_images(encoded, shape, method: str = "bilinear"):
    """``[batch]`` encoded images -> float32 ``[batch, height, width, channels]`` in [0, 1], resized by
    ``method`` (a ``tf.image.ResizeMethod``)."""
    height, width, channels = shape

    def decode(image):
        pixels = tf.io.decode_image(image, channels=channels, dtype=tf.float32, expand_animations=False)
        return tf.image.resize(pixels, [height, width], method=method)

    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32))


def decode_masks(encoded, shape, classes: int = 2):
    """``[batch]`` encoded grey masks -> float32 ``[batch, height, width, 1]``, resized to the nearest pixel
    so that no new grey levels appear. Two classes: 1 where a pixel is 128 or more, else 0. More: the 8-bit
    pixel values, which are the class ids.

    A value of ``classes`` or more is no class: the segmentation Trainer and Evaluator stop on it
    (``check_class_ids``). The check is not here because the Transform graph also serves, without labels,
    and a stateful assert would run there on an empty mask."""
    grey = decode_images(encoded, shape, method="nearest")
    if classes == 2:
        return tf.cast(grey >= 0.5, tf.float32)
    return tf.round(grey * 255.0)


def check_class_ids(mask, classes: int):
    """``mask`` (decoded by ``decode_masks``), once every value is checked to be a class id below ``classes``."""
    in_range = tf.debugging.assert_less(mask, tf.cast(classes, mask.dtype),
                                        message=f"a mask pixel is not a class id 0-{classes - 1}")
    with tf.control_dependencies([in_range]):
        return tf.identity(mask)


def feature_spec(schema, tf_transform_output: tft.TFTransformOutput) -> FeatureSpec:
    """The model-side ``FeatureSpec`` of this Transform's output for ``schema``."""
    features = schema_lib.schema_features(schema)
    by_name = {f.name: f for f in features}
    sizes = {
        f.name: tf_transform_output.vocabulary_size_by_name(f.shares or f.name)
        for f in features
        if f.kind in (schema_lib.CATEGORICAL, schema_lib.SEQUENCE) and not by_name[f.shares or f.name].hashed
    }
    return FeatureSpec.from_schema(schema, sizes)


def raw_serving_spec(schema) -> dict[str, Any]:
    """The parsing spec of raw serving inputs: every raw feature but the labels."""
    spec = dict(schema_utils.schema_as_feature_spec(schema).feature_spec)
    for label in schema_lib.label_names(schema_lib.schema_features(schema)):
        del spec[label]
    return spec


def _dense_column(x, default):
    """A ``[batch]`` tensor from a dense ``[batch]``/``[batch, 1]`` or sparse one-value feature."""
    if isinstance(x, tf.SparseTensor):
        dense = tf.sparse.to_dense(x, default_value=tf.cast(default, x.dtype))
        # A batch where every value is missing has width 0: append a default column, take column 0.
        padding = tf.fill([tf.shape(dense)[0], 1], tf.cast(default, x.dtype))
        return tf.concat([dense, padding], axis=1)[:, 0]
    return tf.reshape(x, [-1])


def _present(x):
    if isinstance(x, tf.SparseTensor):
        counts = tf.math.bincount(tf.cast(x.indices[:, 0], tf.int32), minlength=tf.cast(x.dense_shape[0], tf.int32))
        return counts > 0
    return tf.ones_like(tf.reshape(x, [-1]), tf.bool)


def _encoders(features, inputs):
    """One encoder per categorical/sequence feature: values -> ids ``[1, vocab + 1]`` (the last is
    OOV) or ``[1, num_buckets]``. A sharing feature gets its owner's encoder, so the owner's
    vocabulary is computed once (from the owner's values) and applied to both.
    """
    by_name = {f.name: f for f in features}
    encoders = {}
    for f in features:
        if f.kind in (schema_lib.CATEGORICAL, schema_lib.SEQUENCE) and f.shares is None:
            encoders[f.name] = _encoder(f, inputs[f.name])
    for f in features:
        if f.shares is not None:
            encoders[f.name] = encoders[by_name[f.shares].name]
    return encoders


def _encoder(feature: schema_lib.SchemaFeature, x):
    if feature.hashed:
        def hashed(values):
            strings = values if values.dtype == tf.string else tf.strings.as_string(values)
            return tf.strings.to_hash_bucket_fast(strings, feature.num_buckets) + 1
        return hashed
    tokens = _tokens(feature, x).flat_values if feature.kind == schema_lib.SEQUENCE else _values(x)
    # The name scope names the lookup table TFT creates while tracing this function; TensorFlow shares
    # tables by that name across a process, so a generic name would clash with another schema's
    # vocabulary of another dtype in the same process (two pipelines in one notebook or test run).
    vocabulary = tft.vocabulary(tokens, vocab_filename=feature.name,
                                name=f"vocabulary_{feature.name}_{tokens.dtype.name}")
    return lambda values: tft.apply_vocabulary(values, vocabulary, num_oov_buckets=1) + 1


def _values(x):
    return _dense_column(x, "" if x.dtype == tf.string else 0)


def _categorical(encode, x):
    present = _present(x)
    return tf.where(present, encode(_values(x)), tf.zeros_like(present, tf.int64))


def _tokens(feature, x):
    """The kept values of a sequence feature as a ragged ``[batch, <= max_len]`` tensor."""
    if feature.delimiter is not None:
        tokens = tf.strings.split(_dense_column(x, ""), sep=feature.delimiter)
    else:
        tokens = tf.RaggedTensor.from_sparse(x) if isinstance(x, tf.SparseTensor) else tf.RaggedTensor.from_tensor(x)
    if tokens.dtype == tf.string:
        tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
    return tokens[:, : feature.max_len]


def _sequence(feature, encode, x):
    tokens = _tokens(feature, x)
    ids = tokens.with_flat_values(encode(tokens.flat_values))
    return ids.to_tensor(default_value=0, shape=[None, feature.max_len])


def _numeric(feature, x):
    x = tf.cast(x, tf.float32)
    present = _present(x)
    filled = _dense_column(x, tft.mean(x))
    outputs = {feature.name: tft.scale_to_z_score(filled)}
    if feature.bucket_feature:
        buckets = tft.bucketize(filled, feature.num_buckets) + 1
        outputs[feature.bucket_feature] = tf.where(present, buckets, tf.zeros_like(buckets))
    return outputs


def fit_in_memory(rows: list[dict], schema, transform_dir: str) -> tft.TFTransformOutput:
    """Analyzes ``rows`` (TFT instance dicts) with ``preprocessing_fn`` on Beam's DirectRunner and
    writes the transform graph to ``transform_dir``; for tests and notebooks without a pipeline.
    """
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from google.protobuf import text_format
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    metadata = dataset_metadata.DatasetMetadata(schema)
    config = {SCHEMA_KEY: text_format.MessageToString(schema)}
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=f"{transform_dir}/tmp"):
        # TFT's instance format wants every feature; an absent optional one is an empty list.
        complete = [{f.name: row.get(f.name, []) for f in schema.feature} for row in rows]
        data = pipeline | "Rows" >> beam.Create(complete, reshuffle=False)
        transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(lambda inputs: preprocessing_fn(inputs, config))
        _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    metadata_io.write_metadata(metadata, f"{transform_dir}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return tft.TFTransformOutput(transform_dir)
