"""What a task brings to the pipeline: its Transform, its Trainer contract and its Evaluator metrics.

``create_pipeline`` wires the same components for every task and asks the config's task for the
parts that differ. A task plugs in by adding a ``PipelineTask`` to ``TASKS``; until it does, a
config naming it is refused with a message that lists the tasks pipelines support.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from pipelines.config import ConfigError, EvaluationConfig

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma


@dataclasses.dataclass(frozen=True)
class PipelineTask:
    name: str  # a task of zoo.registry.TASKS; every model of the pipeline must be of it
    preprocessing_fn: str  # Transform's entry point, by dotted path
    run_fn: str  # the Trainer's contract: a run_fn by dotted path, reading custom_config (pipelines.pipeline)
    headline_metric: str  # the metric that decides the blessing; run listings show it first
    eval_config: Callable[[EvaluationConfig, str], "tfma.EvalConfig"]  # (evaluation, label key) -> EvalConfig


def ranking_eval_config(evaluation: EvaluationConfig, label_key: str) -> "tfma.EvalConfig":
    """AUC (the blessing: above ``min_auc`` and, with a baseline, at most ``change_threshold`` below
    the baseline's), log loss, calibration, example count, mean label and prediction, and the ROC
    (confusion matrices) and calibration plots, overall and per slice, on raw examples."""
    import tensorflow_model_analysis as tfma

    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": evaluation.min_auc}))
    if evaluation.baseline:
        # TFX drops change thresholds when no blessed model exists yet, so the first run is judged by min_auc.
        auc_threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -evaluation.change_threshold}))
    return tfma.EvalConfig(
        # One spec: TFX adds the baseline's copy when its resolver found one.
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=label_key)],
        slicing_specs=[tfma.SlicingSpec(), *(tfma.SlicingSpec(feature_keys=[f]) for f in evaluation.slices)],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            # The decision is taken on the whole eval split; small slices would make it noisy.
            tfma.MetricConfig(class_name="AUC", per_slice_thresholds=[
                tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold)]),
            tfma.MetricConfig(class_name="BinaryCrossentropy"),  # log loss
            tfma.MetricConfig(class_name="Calibration"),
            tfma.MetricConfig(class_name="MeanLabel"),
            tfma.MetricConfig(class_name="MeanPrediction"),
            # The ROC curve and a 10-bucket reliability diagram, small enough for the report.
            tfma.MetricConfig(class_name="ConfusionMatrixPlot", config='{"num_thresholds": 100}'),
            tfma.MetricConfig(class_name="CalibrationPlot", config='{"num_buckets": 10}'),
        ])],
    )


RANKING = PipelineTask(
    name="ranking",
    preprocessing_fn="pipelines.transform.preprocessing_fn",
    run_fn="pipelines.trainer.run_fn",
    headline_metric="auc",
    eval_config=ranking_eval_config,
)
TASKS = {task.name: task for task in (RANKING,)}


def get_task(name: str) -> PipelineTask:
    if name not in TASKS:
        from zoo.registry import TASKS as MODEL_TASKS

        what = "has no pipeline yet" if name in MODEL_TASKS else "is not a task"
        raise ConfigError(f"task {name!r} {what}; pipelines support: {sorted(TASKS)}")
    return TASKS[name]
