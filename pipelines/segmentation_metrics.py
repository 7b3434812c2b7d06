"""Dice, IoU, mean IoU and pixel accuracy of binary masks as TFMA metrics, for the Evaluator of a segmentation
pipeline.

An eval example is a raw tf.Example: the encoded image and the encoded mask (the ``ModelSpec``'s
label). The model's ``serving_examples`` returns the foreground probability per pixel (``probabilities``); a pixel is
predicted foreground at 0.5 or more. The label is decoded as Transform decodes it for training
(``pipelines.transform.decode_masks``), at the prediction's size. Over all pixels of a slice, with
``P`` the predicted and ``T`` the true foreground:

    dice = 2 |P ∩ T| / (|P| + |T|)     iou = |P ∩ T| / |P ∪ T|     pixel_accuracy = share of pixels right
    mean_iou = the mean of the foreground's iou and the background's (the same with P, T complemented)

A config names them like any TFMA metric: ``MetricConfig(class_name="Dice", module=__name__)``.
"""
from __future__ import annotations

from typing import Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from pipelines.tfma_metrics import computations_per_key
from zoo.layers.vision import PROBABILITIES

_COUNTS = 5  # intersection, predicted, true, correct pixels, pixels


def _scores(counts) -> dict[str, float]:
    intersection, predicted, true, correct, pixels = counts
    union = predicted + true - intersection
    background = correct - intersection  # pixels both call background
    iou = intersection / union if union else float("nan")
    return {"dice": 2 * intersection / (predicted + true) if predicted + true else float("nan"), "iou": iou,
            "mean_iou": (iou + background / (pixels - intersection)) / 2 if pixels > intersection else float("nan"),
            "pixel_accuracy": correct / pixels if pixels else float("nan")}


class _MaskCombiner(beam.CombineFn):
    """The pixel counts of every example of a slice, then one of ``_scores``."""

    def __init__(self, key: metric_types.MetricKey, score: str):
        self._key, self._score = key, score

    def create_accumulator(self):
        return np.zeros(_COUNTS)

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        from pipelines.transform import decode_masks
        from zoo.backend import tf

        predictions = element.get_predictions(self._key.model_name, self._key.output_name)
        if isinstance(predictions, dict):  # the model also returns the mask, as a tensor and a PNG
            predictions = predictions[PROBABILITIES]
        predicted = np.asarray(predictions) >= 0.5
        (encoded,) = np.asarray(element.get_labels(self._key.model_name, self._key.output_name)).reshape(-1)
        true = decode_masks(tf.constant([encoded]), predicted.shape).numpy()[0] > 0.5
        return accumulator + [np.sum(predicted & true), np.sum(predicted), np.sum(true), np.sum(predicted == true),
                              predicted.size]

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, accumulator):
        return {self._key: _scores(accumulator)[self._score]}


class _MaskScore(metric_types.Metric):
    """One of ``_scores``, its ``score``, named after it."""

    score: str

    def __init__(self, name: Optional[str] = None):
        score = self.score

        # TFMA passes a computations function only the arguments it declares (model_names for a baseline, ...).
        def computations(name: str, model_names: Optional[list] = None, output_names: Optional[list] = None,
                         example_weighted: bool = False) -> metric_types.MetricComputations:
            return computations_per_key(name, model_names, output_names, example_weighted,
                                        lambda key: _MaskCombiner(key, score))

        super().__init__(computations, name=name or score)


class Dice(_MaskScore):
    """``dice``: twice the overlap of predicted and true foreground over their sizes summed."""

    score = "dice"


class IoU(_MaskScore):
    """``iou``: the overlap of predicted and true foreground over their union."""

    score = "iou"


class MeanIoU(_MaskScore):
    """``mean_iou``: the IoU of the foreground and of the background, averaged."""

    score = "mean_iou"


class PixelAccuracy(_MaskScore):
    """``pixel_accuracy``: the share of pixels predicted right, foreground or background."""

    score = "pixel_accuracy"


for _metric in (Dice, IoU, MeanIoU, PixelAccuracy):
    metric_types.register_metric(_metric)
