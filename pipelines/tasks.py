"""What a task brings to the pipeline: its Transform, its Trainer contract and its Evaluator metrics.

``create_pipeline`` wires the same components for every task and asks the config's task for the
parts that differ. A task plugs in by adding a ``PipelineTask`` to ``TASKS``; until it does, a
config naming it is refused with a message that lists the tasks pipelines support.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from pipelines.config import ConfigError, EvaluationConfig, ModelConfig

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma


@dataclasses.dataclass(frozen=True)
class PipelineTask:
    name: str  # a task of zoo.registry.TASKS; every model of the pipeline must be of it
    preprocessing_fn: str  # Transform's entry point, by dotted path
    run_fn: str  # the Trainer's contract: a run_fn by dotted path, reading custom_config (pipelines.pipeline)
    # The metric that decides the blessing (run listings show it first); {label} is the first label.
    headline_metric: str
    eval_config: Callable[[EvaluationConfig, list], "tfma.EvalConfig"]  # (evaluation, label keys) -> EvalConfig

    def headline(self, labels: list[str]) -> str:
        return self.headline_metric.format(label=labels[0])


def _binary_metrics(evaluation: EvaluationConfig, gate: bool) -> list:
    """AUC (gated when ``gate``: above ``min_auc`` and, with a baseline, at most ``change_threshold``
    below the baseline's), log loss, calibration, example count, mean label and prediction, and the
    ROC (confusion matrices) and calibration plots."""
    import tensorflow_model_analysis as tfma

    auc = tfma.MetricConfig(class_name="AUC")
    if gate:
        threshold = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": evaluation.min_auc}))
        if evaluation.baseline:
            # TFX drops change thresholds when no blessed model exists yet, so the first run is judged by min_auc.
            threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -evaluation.change_threshold}))
        # The decision is taken on the whole eval split; small slices would make it noisy.
        auc.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                                                     threshold=threshold))
    return [
        tfma.MetricConfig(class_name="ExampleCount"),
        auc,
        tfma.MetricConfig(class_name="BinaryCrossentropy"),  # log loss
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        # The ROC curve and a 10-bucket reliability diagram, small enough for the report.
        tfma.MetricConfig(class_name="ConfusionMatrixPlot", config='{"num_thresholds": 100}'),
        tfma.MetricConfig(class_name="CalibrationPlot", config='{"num_buckets": 10}'),
    ]


def _slicing_specs(evaluation: EvaluationConfig) -> list:
    import tensorflow_model_analysis as tfma

    return [tfma.SlicingSpec(), *(tfma.SlicingSpec(feature_keys=[f]) for f in evaluation.slices)]


def ranking_eval_config(evaluation: EvaluationConfig, labels: list) -> "tfma.EvalConfig":
    """The binary metrics of ``_binary_metrics``, the AUC gated, overall and per slice, on raw examples."""
    import tensorflow_model_analysis as tfma

    (label,) = labels
    return tfma.EvalConfig(
        # One spec: TFX adds the baseline's copy when its resolver found one.
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=label)],
        slicing_specs=_slicing_specs(evaluation),
        metrics_specs=[tfma.MetricsSpec(metrics=_binary_metrics(evaluation, gate=True))],
    )


def multitask_eval_config(evaluation: EvaluationConfig, labels: list) -> "tfma.EvalConfig":
    """The binary metrics per head (each head is the output named after its label); the first label's
    AUC decides the blessing, as the headline task."""
    import tensorflow_model_analysis as tfma

    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_keys={label: label for label in labels})],
        slicing_specs=_slicing_specs(evaluation),
        metrics_specs=[tfma.MetricsSpec(output_names=[label], metrics=_binary_metrics(evaluation, gate=index == 0))
                       for index, label in enumerate(labels)],
    )


RANKING = PipelineTask(
    name="ranking",
    preprocessing_fn="pipelines.transform.preprocessing_fn",
    run_fn="pipelines.trainer.run_fn",
    headline_metric="auc",
    eval_config=ranking_eval_config,
)
# Multi-task models with binary heads, one per label the model names (model_heads).
MULTITASK = dataclasses.replace(RANKING, name="multitask", headline_metric="{label}/auc",
                                eval_config=multitask_eval_config)
TASKS = {task.name: task for task in (RANKING, MULTITASK)}


def model_heads(model_name: str, hparams: dict, labels: list[str]) -> tuple[dict, list[str]]:
    """The hyper-parameters to build ``model_name`` with and the label of each head (``[]``: one label).

    A multi-task model without ``tasks`` gets one binary head per schema label; heads it names must be
    schema labels, since each trains on, and is evaluated against, the label of its name.
    """
    import zoo

    card = zoo.get_card(model_name)
    if card.task != "multitask":
        return dict(hparams), []
    hparams = {"tasks": [{"name": label} for label in labels], **hparams}
    heads = [task["name"] for task in hparams["tasks"]]
    unknown = sorted(set(heads) - set(labels))
    if unknown:
        raise ConfigError(f"tasks {unknown} of {model_name} are not labels of the schema, which has {labels}")
    return hparams, heads


def evaluated_labels(model: ModelConfig, labels: list[str]) -> list[str]:
    """The labels the Evaluator measures ``model`` against: its heads', or the schema's one label."""
    return model_heads(model.name, model.hparams, labels)[1] or labels


def get_task(name: str) -> PipelineTask:
    if name not in TASKS:
        from zoo.registry import TASKS as MODEL_TASKS

        what = "has no pipeline yet" if name in MODEL_TASKS else "is not a task"
        raise ConfigError(f"task {name!r} {what}; pipelines support: {sorted(TASKS)}")
    return TASKS[name]
