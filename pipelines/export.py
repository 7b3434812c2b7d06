"""Exports a trained model as a servable SavedModel with the Transform graph inside.

``serving_default`` takes serialized ``tf.Example``s of *raw* features (TF Serving's
``examples`` input), parses them with the raw schema, applies Transform and the model, and
returns the model's named output. TFMA evaluates through the same signature.
"""
from __future__ import annotations

import tensorflow_transform as tft

from pipelines.transform import raw_serving_spec
from zoo.backend import tf

SERVING_INPUT = "examples"


def serving_signature(model, tf_transform_output: tft.TFTransformOutput, schema):
    """The concrete ``serving_default`` function for ``model``."""
    # Tracked on the model so that the Transform graph's assets are saved with it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = raw_serving_spec(schema)
    input_names = [i.name.split(":")[0] for i in model.inputs]
    (output_name,) = model.output_names

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)])
    def serve_examples(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, raw_spec))
        return {output_name: model({name: transformed[name] for name in input_names})}

    return serve_examples.get_concrete_function()


def export_serving_model(model, tf_transform_output: tft.TFTransformOutput, schema, export_dir: str) -> str:
    signature = serving_signature(model, tf_transform_output, schema)
    model.save(export_dir, save_format="tf", signatures={"serving_default": signature})
    return export_dir
