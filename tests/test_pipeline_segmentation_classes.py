"""Segmentation into more than two classes through the real pipeline: a mask folder whose masks hold
class ids (``zoo.mask_classes=3``), a U-Net with three softmax channels trained on categorical
cross-entropy + Dice, the Evaluator's per-class means recounted from the pushed model, and a served mask
whose PNG holds the class ids.

The images are seeded synthetic scenes: a grey background (class 0) with one bright and one dark
rectangle (classes 1 and 2) and pixel noise, so the classes are learnable in a few dozen steps.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest

from zoo.backend import tf

pytestmark = pytest.mark.slow
CLASSES = 3
SIZE = 32


def write_scenes(folder: pathlib.Path, count: int, seed: int) -> pathlib.Path:
    """``folder/image/<i>.png`` grey scenes and ``folder/mask/<i>.png`` their class ids."""
    rng = np.random.default_rng(seed)
    for sub in ("image", "mask"):
        (folder / sub).mkdir(parents=True)
    for i in range(count):
        image = np.full((SIZE, SIZE, 1), 128.0)
        mask = np.zeros((SIZE, SIZE, 1), np.uint8)
        for class_id, brightness in ((1, 230.0), (2, 25.0)):
            height, width = rng.integers(6, 14, size=2)
            top, left = rng.integers(0, SIZE - height), rng.integers(0, SIZE - width)
            image[top:top + height, left:left + width] = brightness
            mask[top:top + height, left:left + width] = class_id
        image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
        (folder / "image" / f"{i:02d}.png").write_bytes(tf.io.encode_png(image).numpy())
        (folder / "mask" / f"{i:02d}.png").write_bytes(tf.io.encode_png(mask).numpy())
    return folder


@pytest.fixture(scope="module")
def config(small_image_config, tmp_path_factory):
    config = small_image_config("isbi_segmentation", f"{SIZE}x{SIZE}x1")
    schema = pathlib.Path(config.schema)
    text = schema.read_text()
    assert text.count('tag: "zoo.role=label"') == 1
    schema.write_text(text.replace('tag: "zoo.role=label"', f'tag: "zoo.role=label" tag: "zoo.mask_classes={CLASSES}"'))
    folder = write_scenes(tmp_path_factory.mktemp("scenes"), count=40, seed=0)
    return config.replace(
        serving_model_name="scenes",
        data=dataclasses.replace(config.data, source="mask_folder", path=str(folder)),
        model=dataclasses.replace(config.model, hparams={"depth": 2, "base_filters": 8}),
        training=dataclasses.replace(config.training, train_steps=80),
        evaluation=dataclasses.replace(config.evaluation, min_dice=0.5),
    )


@pytest.fixture(scope="module")
def held_out(config, read_eval_split) -> list[bytes]:
    return read_eval_split(config, "ImportExampleGen")


def _feature(example: bytes, name: str) -> bytes:
    return tf.train.Example.FromString(example).features.feature[name].bytes_list.value[0]


def test_the_evaluators_class_means_are_those_of_the_pushed_model(summary, held_out):
    """Recounted over every pixel of every held-out scene, from the pushed model's most probable class and
    the masks decoded as Transform decodes them for training."""
    from pipelines.transform import decode_masks

    assert summary.blessed and summary.pushed_path
    outputs = tf.saved_model.load(summary.pushed_path).signatures["serving_examples"](examples=tf.constant(held_out))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(held_out), SIZE, SIZE, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)  # softmax over the classes
    predicted = probabilities.argmax(axis=-1)
    true = decode_masks(tf.constant([_feature(e, "mask") for e in held_out]), (SIZE, SIZE, 1), CLASSES).numpy()[..., 0]
    assert set(np.unique(true)) == {0, 1, 2}
    dice, iou = [], []
    for c in range(CLASSES):
        overlap = np.sum((predicted == c) & (true == c))
        dice.append(2 * overlap / (np.sum(predicted == c) + np.sum(true == c)))
        iou.append(overlap / np.sum((predicted == c) | (true == c)))
    assert summary.metrics["example_count"] == len(held_out)
    assert summary.metrics["dice"] == pytest.approx(np.mean(dice[1:]), abs=1e-6)
    assert summary.metrics["iou"] == pytest.approx(np.mean(iou[1:]), abs=1e-6)
    assert summary.metrics["mean_iou"] == pytest.approx(np.mean(iou), abs=1e-6)
    assert summary.metrics["pixel_accuracy"] == pytest.approx(np.mean(predicted == true), abs=1e-6)
    assert summary.metrics["dice"] > 0.5  # the gate: both rectangle classes are found


def test_the_served_mask_holds_the_most_probable_class_as_tensor_and_png(summary, held_out):
    serving = tf.saved_model.load(summary.pushed_path).signatures["serving_default"]
    images = [_feature(e, "image") for e in held_out[:3]]
    outputs = serving(tf.constant(images))
    classes = outputs["probabilities"].numpy().argmax(axis=-1)[..., None]
    np.testing.assert_array_equal(outputs["mask"].numpy(), classes)
    for png, expected in zip(outputs["mask_png_bytes"].numpy(), classes):
        np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), expected)
    assert set(np.unique(classes)) <= {0, 1, 2} and len(np.unique(classes)) > 1
