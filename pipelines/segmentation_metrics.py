"""Dice, IoU, mean IoU and pixel accuracy of segmentation masks as TFMA metrics, for the Evaluator of a
segmentation pipeline.

An eval example is a raw tf.Example: the encoded image and the encoded mask (the ``ModelSpec``'s
label). The model's ``serving_examples`` returns per-pixel probabilities (``probabilities``): one
foreground channel for a 2-class mask, where a pixel is predicted foreground at 0.5 or more, or one channel
per class of a ``zoo.mask_classes=N`` mask, where the most probable class is predicted. The label is
decoded as Transform decodes it for training (``pipelines.transform.decode_masks``), at the prediction's
size. Over all pixels of a slice, with ``P_c`` and ``T_c`` the pixels predicted and truly of class ``c``:

    dice_c = 2 |P_c ∩ T_c| / (|P_c| + |T_c|)     iou_c = |P_c ∩ T_c| / |P_c ∪ T_c|
    dice, iou = the mean of dice_c, iou_c over the classes other than 0 (the background): for 2
                classes, those of the foreground
    mean_iou = the mean of iou_c over every class      pixel_accuracy = the share of pixels right

A class that is neither predicted nor true in the slice has no score and is left out of the means.
A config names them like any TFMA metric: ``MetricConfig(class_name="Dice", module=__name__)``. Each is
derived from one confusion matrix per slice, a private metric (``CONFUSION``) that TFMA computes once
for all of them, so every held-out mask is decoded once.
"""
from __future__ import annotations

import warnings
from typing import Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from pipelines.tfma_metrics import computations_per_key
from zoo.layers.vision import PROBABILITIES

# The key name of the confusion matrix the scores share; TFMA leaves names starting with "_" out of its results.
CONFUSION = "_segmentation_confusion"


def _mean(values: np.ndarray) -> float:
    """The mean of the values that are not NaN; NaN when none is."""
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _scores(confusion: np.ndarray) -> dict[str, float]:
    """The scores of ``confusion[t, p]``, the pixels of true class ``t`` predicted ``p``."""
    hits = np.diag(confusion).astype(float)
    predicted, true = confusion.sum(axis=0), confusion.sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0: a class absent from the slice has no score
        dice = 2 * hits / (predicted + true)
        iou = hits / (predicted + true - hits)
    pixels = confusion.sum()
    return {"dice": _mean(dice[1:]), "iou": _mean(iou[1:]), "mean_iou": _mean(iou),
            "pixel_accuracy": hits.sum() / pixels if pixels else float("nan")}


def _confusion(predicted: np.ndarray, true: np.ndarray, classes: int) -> np.ndarray:
    """``[classes, classes]`` pixel counts of (true, predicted) class pairs."""
    pairs = true.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def _padded(confusion: np.ndarray, classes: int) -> np.ndarray:
    grown = np.zeros((classes, classes), dtype=np.int64)
    grown[:len(confusion), :len(confusion)] = confusion
    return grown


class _ConfusionCombiner(beam.CombineFn):
    """The confusion matrix of every pixel of every example of a slice."""

    def __init__(self, key: metric_types.MetricKey):
        self._key = key

    def create_accumulator(self):
        return np.zeros((0, 0), dtype=np.int64)  # grown to the classes once a prediction shows them

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        from pipelines.transform import check_class_ids, decode_masks
        from zoo.backend import tf

        predictions = element.get_predictions(self._key.model_name, self._key.output_name)
        if isinstance(predictions, dict):  # the model also returns the mask, as a tensor and a PNG
            predictions = predictions[PROBABILITIES]
        probabilities = np.asarray(predictions)
        channels = probabilities.shape[-1]
        classes = 2 if channels == 1 else channels
        predicted = probabilities[..., 0] >= 0.5 if channels == 1 else probabilities.argmax(axis=-1)
        (encoded,) = np.asarray(element.get_labels(self._key.model_name, self._key.output_name)).reshape(-1)
        true = check_class_ids(decode_masks(tf.constant([encoded]), (*predicted.shape, 1), classes),
                               classes).numpy()[0, ..., 0]
        return _padded(accumulator, classes) + _confusion(predicted, true, classes)

    def merge_accumulators(self, accumulators: Iterable[np.ndarray]):
        accumulators = list(accumulators)
        classes = max((len(a) for a in accumulators), default=0)
        return sum((_padded(a, classes) for a in accumulators), np.zeros((classes, classes), dtype=np.int64))

    def extract_output(self, accumulator):
        return {self._key: accumulator}


class _MaskScore(metric_types.Metric):
    """One of ``_scores``, its ``score``, named after it."""

    score: str

    def __init__(self, name: Optional[str] = None):
        score = self.score

        # TFMA passes a computations function only the arguments it declares (model_names for a baseline, ...).
        def computations(name: str, model_names: Optional[list] = None, output_names: Optional[list] = None,
                         example_weighted: bool = False) -> metric_types.MetricComputations:
            confusions = computations_per_key(CONFUSION, model_names, output_names, example_weighted,
                                              _ConfusionCombiner)
            return [*confusions, *(_derived(confusion.keys[0], name, score) for confusion in confusions)]

        super().__init__(computations, name=name or score)


def _derived(confusion: metric_types.MetricKey, name: str, score: str) -> metric_types.DerivedMetricComputation:
    """``score`` of the confusion matrix under the key ``confusion``, as the metric ``name`` of its model and output."""
    key = confusion._replace(name=name)

    def result(metrics: dict) -> dict:
        return {key: _scores(metrics[confusion])[score]}

    return metric_types.DerivedMetricComputation(keys=[key], result=result)


class Dice(_MaskScore):
    """``dice``: twice the overlap of predicted and true pixels of a class over their sizes summed,
    averaged over the classes other than the background."""

    score = "dice"


class IoU(_MaskScore):
    """``iou``: the overlap of predicted and true pixels of a class over their union, averaged over the
    classes other than the background."""

    score = "iou"


class MeanIoU(_MaskScore):
    """``mean_iou``: the IoU of every class, the background's included, averaged."""

    score = "mean_iou"


class PixelAccuracy(_MaskScore):
    """``pixel_accuracy``: the share of pixels whose class is predicted right."""

    score = "pixel_accuracy"


for _metric in (Dice, IoU, MeanIoU, PixelAccuracy):
    metric_types.register_metric(_metric)
