"""Binary segmentation through the real pipeline: the ISBI 2012 EM slices (the U-Net paper's data) as
tf.Examples of PNG bytes; Transform decodes and resizes images and masks, a small U-Net trains, the
Evaluator measures Dice, IoU and pixel accuracy and gates on Dice, and the pushed model takes an
encoded image on serving_default and returns the probabilities and the mask, as a tensor and as a PNG.
"""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

from zoo.backend import tf

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_ISBI = REPO.parent / "shared" / "data" / "isbi2012-em-membranes"


@pytest.fixture(scope="module")
def config(small_image_config):
    if not (SHARED_ISBI / "image" / "0.png").exists():
        pytest.fail(f"the shared ISBI 2012 copy is missing at {SHARED_ISBI}; see ../shared/data/README.md")
    config = small_image_config("isbi_segmentation", "64x64x1")
    return config.replace(
        data=dataclasses.replace(config.data, path=str(SHARED_ISBI)),
        model=dataclasses.replace(config.model, hparams={"depth": 2, "base_filters": 4}),
        training=dataclasses.replace(config.training, train_steps=60),
        evaluation=dataclasses.replace(config.evaluation, min_dice=0.3),
    )


@pytest.fixture(scope="module")
def held_out(config, read_eval_split) -> list[bytes]:
    return read_eval_split(config, "ImportExampleGen")


def _feature(example: bytes, name: str) -> bytes:
    return tf.train.Example.FromString(example).features.feature[name].bytes_list.value[0]


def test_the_evaluators_scores_are_those_of_the_pushed_model(summary, held_out):
    """Recounted over every pixel of every held-out slice, from the pushed model's probabilities and the
    masks decoded as Transform decodes them for training."""
    from pipelines.transform import decode_masks

    assert summary.blessed and summary.pushed_path
    # serving_examples: the tf.Example signature that TFMA evaluates
    outputs = tf.saved_model.load(summary.pushed_path).signatures["serving_examples"](examples=tf.constant(held_out))
    predicted = outputs["probabilities"].numpy() >= 0.5
    assert predicted.shape == (len(held_out), 64, 64, 1)
    true = decode_masks(tf.constant([_feature(e, "mask") for e in held_out]), (64, 64, 1)).numpy() > 0.5
    assert 0.1 < true.mean() < 0.4  # the membranes are a minority of the pixels
    overlap = np.sum(predicted & true)
    assert summary.metrics["example_count"] == len(held_out)
    assert summary.metrics["dice"] == pytest.approx(2 * overlap / (predicted.sum() + true.sum()), abs=1e-6)
    assert summary.metrics["iou"] == pytest.approx(overlap / np.sum(predicted | true), abs=1e-6)
    background_iou = np.sum(~predicted & ~true) / np.sum(~predicted | ~true)
    assert summary.metrics["mean_iou"] == pytest.approx((summary.metrics["iou"] + background_iou) / 2, abs=1e-6)
    assert summary.metrics["pixel_accuracy"] == pytest.approx(np.mean(predicted == true), abs=1e-6)
    assert summary.metrics["dice"] > 0.3  # the gate


def test_the_pushed_model_takes_an_image_and_returns_the_mask_as_tensor_and_png(summary, config, held_out):
    from pipelines.demo import http_json
    from serving.server import start_server

    images = [_feature(e, "image") for e in held_out[:2]]
    expected = tf.saved_model.load(summary.pushed_path).signatures["serving_examples"](
        examples=tf.constant(held_out[:2]))["probabilities"].numpy()
    name = config.serving_model_name
    with start_server(name, str(pathlib.Path(summary.pushed_path).parent)) as server:
        body = {"instances": [{"b64": base64.b64encode(image).decode()} for image in images]}  # serving_default
        predictions = http_json(f"{server.url}/v1/models/{name}:predict", body)["predictions"]
    for row, probabilities in zip(predictions, expected):
        np.testing.assert_allclose(row["probabilities"], probabilities, atol=1e-6)
        np.testing.assert_array_equal(row["mask"], probabilities >= 0.5)
        mask = tf.io.decode_png(base64.b64decode(row["mask_png_bytes"]["b64"])).numpy()
        np.testing.assert_array_equal(mask, np.where(probabilities >= 0.5, 255, 0))
