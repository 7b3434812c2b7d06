"""What the zoo's own TFMA metrics (``retrieval_metrics``, ``segmentation_metrics``) share."""
from __future__ import annotations

from typing import Callable, Optional

import apache_beam as beam
from tensorflow_model_analysis.metrics import metric_types


def computations_per_key(name: str, model_names: Optional[list], output_names: Optional[list], example_weighted: bool,
                         combiner: Callable[[metric_types.MetricKey], beam.CombineFn]
                         ) -> metric_types.MetricComputations:
    """One computation per (model, output) that TFMA asks for, each by ``combiner(its key)``.

    The key carries ``example_weighted`` as TFMA asks, but these metrics count every example once.
    """
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                         example_weighted=example_weighted)
            computations.append(metric_types.MetricComputation(keys=[key], preprocessors=None, combiner=combiner(key)))
    return computations
