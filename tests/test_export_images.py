"""An image model exported outside a pipeline (``export_serving_model`` with a Transform fitted in memory):
``serving_default`` takes the encoded images, ``serving_examples`` the tf.Examples that hold them, and a
multi-class segmentation model returns its mask as class indices, as a tensor and as a PNG. The binary
case, the REST API and the server's replay of the warm-up requests: tests/test_pipeline_segmentation.py
and tests/test_pipeline_images.py."""
from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.backend import keras, tf
from zoo.data.from_schema import to_example

SIZE, CLASSES = 16, 3
SCHEMA = """
feature { name: "image" type: BYTES value_count { min: 1 max: 1 } presence { min_fraction: 1.0 }
          annotation { tag: "zoo.kind=image" tag: "zoo.image_shape=16x16x1" } }
feature { name: "mask" type: BYTES value_count { min: 1 max: 1 } presence { min_fraction: 1.0 }
          annotation { tag: "zoo.role=label" tag: "zoo.image_shape=16x16x1" } }
"""


def _png(array: np.ndarray) -> bytes:
    return tf.io.encode_png(array.astype(np.uint8)).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 3-class U-Net exported with warm-up requests from 10 examples of random 24x24 images (Transform
    resizes them to the schema's 16x16)."""
    from pipelines.export import export_serving_model
    from pipelines.transform import fit_in_memory
    from zoo.schema import parse_schema

    rng = np.random.default_rng(0)
    rows = [{"image": _png(rng.integers(0, 256, (24, 24, 1))), "mask": _png(rng.integers(0, 2, (24, 24, 1)) * 255)}
            for _ in range(10)]
    schema = parse_schema(SCHEMA)
    root = tmp_path_factory.mktemp("image_export")
    transform_output = fit_in_memory(rows, schema, str(root / "transform"))
    keras.utils.set_random_seed(0)
    model = zoo.create("unet", depth=2, base_filters=4, num_classes=CLASSES, input_shape=(SIZE, SIZE, 1))
    examples = [to_example(row).SerializeToString() for row in rows]
    path = export_serving_model(model, transform_output, schema, str(root / "model"), warmup_examples=examples,
                                inputs={"image": "image"})
    return tf.saved_model.load(path), rows, examples, path


def _inputs(signature) -> set[str]:
    return set(signature.structured_input_signature[1])


def test_serving_default_takes_the_images_and_serving_examples_the_tf_examples(exported):
    loaded, rows, examples, _ = exported
    signatures = loaded.signatures
    assert _inputs(signatures["serving_default"]) == _inputs(signatures["predict_raw"]) == {"image"}
    assert _inputs(signatures["serving_examples"]) == {"examples"}
    from_images = signatures["serving_default"](image=tf.constant([row["image"] for row in rows]))
    from_examples = signatures["serving_examples"](examples=tf.constant(examples))
    assert set(from_images) == {"probabilities", "mask", "mask_png_bytes"}
    for name in ("probabilities", "mask", "mask_png_bytes"):
        np.testing.assert_array_equal(from_images[name].numpy(), from_examples[name].numpy())


def test_a_multi_class_mask_is_the_most_probable_class_as_tensor_and_png(exported):
    loaded, rows, _, _ = exported
    outputs = loaded.signatures["serving_default"](image=tf.constant([row["image"] for row in rows]))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(rows), SIZE, SIZE, CLASSES)
    expected = probabilities.argmax(axis=-1)[..., None]
    assert len(np.unique(expected)) > 1  # an untrained network still varies over the random images
    np.testing.assert_array_equal(outputs["mask"].numpy(), expected)
    for png, mask in zip(outputs["mask_png_bytes"].numpy(), expected):
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), mask)


def test_warm_up_requests_feed_each_signature_what_it_takes(exported):
    """Predict on serving_default with the examples' images, on serving_examples with the examples; each
    request runs on the loaded model and answers as serving_examples does on the same examples."""
    from tensorflow_serving.apis import prediction_log_pb2

    loaded, _, examples, path = exported
    records = tf.compat.v1.io.tf_record_iterator(f"{path}/assets.extra/tf_serving_warmup_requests")
    requests = [prediction_log_pb2.PredictionLog.FromString(r).predict_log.request for r in records]
    assert [r.model_spec.signature_name for r in requests] == ["serving_default", "serving_examples"] * 2  # 8 + 2
    for index, request in enumerate(requests):
        batch = examples[8 * (index // 2):8 * (index // 2 + 1)]
        inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
        answer = loaded.signatures[request.model_spec.signature_name](**inputs)
        expected = loaded.signatures["serving_examples"](examples=tf.constant(batch))
        np.testing.assert_array_equal(answer["mask"].numpy(), expected["mask"].numpy())
