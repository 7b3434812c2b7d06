"""Recall@K and NDCG@K as TFMA metrics, for the Evaluator of a retrieval pipeline.

An eval example is one interaction: the query's features and the item it interacted with (the
``ModelSpec``'s label). The model's ``serving_default`` returns its top items (``ids``, best first,
over the whole corpus), and each example has one relevant item, so with ``r`` the 1-based rank of
that item in ``ids`` (``r = inf`` when absent):

    recall@K = [r <= K]            ndcg@K = [r <= K] / log2(r + 1)

(``zoo.retrieval.metrics`` with a single relevant item), averaged over the examples of a slice. A
config names them like any TFMA metric: ``MetricConfig(class_name="RecallAtK", module=__name__,
config='{"k": 10}')``; they are then ``recall@10`` and ``ndcg@10`` and can be gated by thresholds.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types

from pipelines.tfma_metrics import computations_per_key
from zoo.retrieval.metrics import ndcg_at_k, recall_at_k

IDS_OUTPUT = "ids"  # the output of serving_default that lists the retrieved items


class _GainCombiner(beam.CombineFn):
    """The mean over examples of ``gain(retrieved ids, [the example's item], k)``."""

    def __init__(self, key: metric_types.MetricKey, k: int, gain: Callable):
        self._key, self._k, self._gain = key, k, gain

    def create_accumulator(self):
        return [0.0, 0]  # sum of gains, examples

    def add_input(self, accumulator, element: metric_types.StandardMetricInputs):
        labels = element.get_labels(self._key.model_name, self._key.output_name)
        predictions = element.get_predictions(self._key.model_name, self._key.output_name)
        if isinstance(predictions, dict):
            predictions = predictions[IDS_OUTPUT]
        (item,) = np.asarray(labels).reshape(-1)  # an interaction has exactly one item
        if isinstance(item, bytes) and np.asarray(predictions).dtype.kind == "U":
            item = item.decode()
        accumulator[0] += self._gain(np.asarray(predictions).reshape(-1), [item], self._k)
        accumulator[1] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list]):
        total, count = 0.0, 0
        for gains, examples in accumulators:
            total, count = total + gains, count + examples
        return [total, count]

    def extract_output(self, accumulator):
        total, count = accumulator
        return {self._key: total / count if count else float("nan")}


# TFMA passes a computations function only the arguments it declares (model_names for a baseline, ...).
def _recall_computations(name: str, k: int, model_names: Optional[list] = None, output_names: Optional[list] = None,
                         example_weighted: bool = False) -> metric_types.MetricComputations:
    return computations_per_key(name, model_names, output_names, example_weighted,
                                lambda key: _GainCombiner(key, k, recall_at_k))


def _ndcg_computations(name: str, k: int, model_names: Optional[list] = None, output_names: Optional[list] = None,
                       example_weighted: bool = False) -> metric_types.MetricComputations:
    return computations_per_key(name, model_names, output_names, example_weighted,
                                lambda key: _GainCombiner(key, k, ndcg_at_k))


class RecallAtK(metric_types.Metric):
    """``recall@k``: the share of interactions whose item is among the ``k`` retrieved."""

    def __init__(self, k: int = 10, name: Optional[str] = None):
        super().__init__(_recall_computations, k=k, name=name or f"recall@{k}")


class NdcgAtK(metric_types.Metric):
    """``ndcg@k``: ``1 / log2(rank + 1)`` of the interaction's item when it is among the ``k`` retrieved, else 0."""

    def __init__(self, k: int = 10, name: Optional[str] = None):
        super().__init__(_ndcg_computations, k=k, name=name or f"ndcg@{k}")


metric_types.register_metric(RecallAtK)
metric_types.register_metric(NdcgAtK)
