"""What a task brings to the pipeline: its Transform, its Trainer contract and its Evaluator metrics.

``create_pipeline`` wires the same components for every task and asks the config's task for the
parts that differ. A task plugs in by adding a ``PipelineTask`` to ``TASKS``; every task of the model
registry (``zoo.registry.TASKS``) has one.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

from pipelines.config import ConfigError, EvaluationConfig, ModelConfig
from zoo import schema as schema_lib

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

RETRIEVAL_KS = (10, 50, 100)  # the K of the retrieval Evaluator's Recall@K and NDCG@K; the largest is gated
CANDIDATE = "candidate"  # the type of a retrieval model's head: the item it should retrieve
# The tf.Example signature of an image model, whose serving_default takes the images (pipelines.export).
EXAMPLES_SIGNATURE = "serving_examples"


@dataclasses.dataclass(frozen=True)
class PipelineTask:
    name: str  # a task of zoo.registry.TASKS; every model of the pipeline must be of it
    preprocessing_fn: str  # Transform's entry point, by dotted path
    run_fn: str  # the Trainer's contract: a run_fn by dotted path, reading custom_config (pipelines.pipeline)
    # The metric that decides the blessing (run listings show it first); {label} is the first head's label.
    headline_metric: str
    # (model, schema features) -> what the Evaluator measures the model against, {label: its type}, first
    # the headline; raises ConfigError, at config load, for a model this task cannot train or serve.
    heads: Callable[[ModelConfig, list], dict[str, str]]
    eval_config: Callable[[EvaluationConfig, dict], "tfma.EvalConfig"]  # (evaluation, heads) -> EvalConfig

    def headline(self, heads: dict[str, str]) -> str:
        return self.headline_metric.format(label=next(iter(heads)))


def _gate(evaluation: EvaluationConfig, lower_bound: float) -> list:
    """The blessing gate of a headline metric: above ``lower_bound`` and, with a baseline, at most
    ``change_threshold`` below the baseline's; on the whole eval split, since small slices would make
    it noisy."""
    import tensorflow_model_analysis as tfma

    threshold = tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(lower_bound={"value": lower_bound}))
    if evaluation.baseline:
        # TFX drops change thresholds when no blessed model exists yet, so the first run is judged by the bound.
        threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -evaluation.change_threshold}))
    return [tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)]


def _binary_metrics(evaluation: EvaluationConfig, gate: bool) -> list:
    """AUC (gated by ``min_auc`` when ``gate``), log loss, calibration, example count, mean label and
    prediction, and the ROC (confusion matrices) and calibration plots."""
    import tensorflow_model_analysis as tfma

    return [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC", per_slice_thresholds=_gate(evaluation, evaluation.min_auc) if gate else []),
        tfma.MetricConfig(class_name="BinaryCrossentropy"),  # log loss
        tfma.MetricConfig(class_name="Calibration"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        # The ROC curve and a 10-bucket reliability diagram, small enough for the report.
        tfma.MetricConfig(class_name="ConfusionMatrixPlot", config='{"num_thresholds": 100}'),
        tfma.MetricConfig(class_name="CalibrationPlot", config='{"num_buckets": 10}'),
    ]


def _regression_metrics() -> list:
    """Squared and absolute error, the squared Pearson correlation of prediction and label, example
    count, and mean label and prediction (their gap is the head's bias)."""
    import tensorflow_model_analysis as tfma

    return [tfma.MetricConfig(class_name=name) for name in (
        "ExampleCount", "MeanSquaredError", "MeanAbsoluteError", "SquaredPearsonCorrelation", "MeanLabel",
        "MeanPrediction")]


def _model_spec(signature: str = "serving_default", **labels) -> "tfma.ModelSpec":
    """The pushed model as TFMA sees it: its ``signature`` on serialized raw examples (``serving_default``,
    or an image model's ``serving_examples``, as its ``serving_default`` takes the images themselves).

    ``tf_generic`` makes TFMA load it with ``tf.saved_model.load``, which needs only TensorFlow. As a
    Keras model it would need the zoo classes registered, and a Beam worker in its own process (DirectRunner
    multi_processing, Flink, Spark, Dataflow) has not imported zoo. It also spares TFMA a Keras load
    just to find the model's type.
    """
    import tensorflow_model_analysis as tfma

    return tfma.ModelSpec(signature_name=signature, model_type="tf_generic", **labels)


def _slicing_specs(evaluation: EvaluationConfig) -> list:
    import tensorflow_model_analysis as tfma

    return [tfma.SlicingSpec(), *(tfma.SlicingSpec(feature_keys=[f]) for f in evaluation.slices)]


def _one_label_eval_config(evaluation: EvaluationConfig, heads: dict, metrics: list,
                           signature: str = "serving_default") -> "tfma.EvalConfig":
    """``metrics`` of the model's one head, against its label, overall and per slice, on raw examples
    through ``signature``."""
    import tensorflow_model_analysis as tfma

    (label,) = heads
    return tfma.EvalConfig(
        # One spec: TFX adds the baseline's copy when its resolver found one.
        model_specs=[_model_spec(signature, label_key=label)],
        slicing_specs=_slicing_specs(evaluation),
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )


def ranking_eval_config(evaluation: EvaluationConfig, heads: dict) -> "tfma.EvalConfig":
    """The binary metrics of ``_binary_metrics``, the AUC gated."""
    return _one_label_eval_config(evaluation, heads, _binary_metrics(evaluation, gate=True))


def multitask_eval_config(evaluation: EvaluationConfig, heads: dict) -> "tfma.EvalConfig":
    """Per head (the output named after its label), the binary or the regression metrics; the first
    head's AUC decides the blessing, as the headline task."""
    import tensorflow_model_analysis as tfma

    return tfma.EvalConfig(
        model_specs=[_model_spec(label_keys={label: label for label in heads})],
        slicing_specs=_slicing_specs(evaluation),
        metrics_specs=[tfma.MetricsSpec(output_names=[label], metrics=_binary_metrics(evaluation, gate=index == 0)
                                        if kind == schema_lib.BINARY else _regression_metrics())
                       for index, (label, kind) in enumerate(heads.items())],
    )


def retrieval_eval_config(evaluation: EvaluationConfig, heads: dict) -> "tfma.EvalConfig":
    """Recall@K and NDCG@K over the whole corpus (``pipelines.retrieval_metrics``) for K in
    ``RETRIEVAL_KS``; the label is the interaction's item, and recall at the largest K above ``min_recall``
    blesses."""
    import json

    import tensorflow_model_analysis as tfma

    metrics = [tfma.MetricConfig(class_name="ExampleCount")]
    for k in RETRIEVAL_KS:
        for class_name in ("RecallAtK", "NdcgAtK"):
            gated = class_name == "RecallAtK" and k == max(RETRIEVAL_KS)
            metrics.append(tfma.MetricConfig(
                class_name=class_name, module="pipelines.retrieval_metrics", config=json.dumps({"k": k}),
                per_slice_thresholds=_gate(evaluation, evaluation.min_recall) if gated else []))
    return _one_label_eval_config(evaluation, heads, metrics)


def is_next_item(model_name: str) -> bool:
    """Whether ``model_name`` is a next-item retrieval model (``sasrec``, ``fmlp_rec``), which reads one item
    sequence and scores every item of its vocabulary, rather than a two-tower model."""
    import zoo
    from zoo.models.sasrec import NEXT_ITEM_INPUTS

    return dict(zoo.get_card(model_name).inputs) == NEXT_ITEM_INPUTS


def next_item_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """A next-item model is measured on retrieving its interaction's item, the feature whose vocabulary its
    ``sequence_feature`` shares (``zoo.shares``): its scores are over that vocabulary, the corpus."""
    import zoo

    by_name = {f.name: f for f in features}
    name = model.hparams.get("sequence_feature", zoo.get_card(model.name).defaults["sequence_feature"])
    sequence = by_name.get(name)
    if (sequence is None or sequence.kind != schema_lib.SEQUENCE or not sequence.shares
            or by_name[sequence.shares].kind != schema_lib.CATEGORICAL):
        raise ConfigError(f"sequence_feature {name!r} of {model.name!r} must be a sequence feature of the schema "
                          "that shares the vocabulary of the items to retrieve (zoo.shares=<item feature>, a "
                          "categorical feature: each interaction's one item)")
    if sequence.hashed or by_name[sequence.shares].hashed:
        raise ConfigError(f"sequence_feature {name!r} of {model.name!r} scores the items of a vocabulary, so neither "
                          f"it nor {sequence.shares!r} can be hashed (zoo.num_buckets)")
    return {sequence.shares: CANDIDATE}


def retrieval_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """A retrieval model is measured on retrieving its interaction's item, ``candidate_id`` (a next-item
    model's: ``next_item_heads``); refuses a model whose towers the pipeline cannot serve.

    Both towers must be named: ``candidate_id``, a categorical feature with a vocabulary of its own (the
    vocabulary is the corpus), and ``query_features``, without the candidate (the query would see
    its answer). The candidate tower reads the id alone, since the corpus is a list of ids.
    """
    if is_next_item(model.name):
        return next_item_heads(model, features)
    by_name = {f.name: f for f in features}
    candidate = model.hparams.get("candidate_id")
    if candidate is None or "query_features" not in model.hparams:
        raise ConfigError(f"retrieval model {model.name!r} needs hparams candidate_id (the item) and "
                          "query_features (what the query tower reads)")
    feature = by_name.get(candidate)
    if feature is None or feature.kind != schema_lib.CATEGORICAL or feature.hashed or feature.shares:
        raise ConfigError(f"candidate_id {candidate!r} must be a categorical feature of the schema with a "
                          "vocabulary of its own (not hashed, not shared)")
    if list(model.hparams.get("candidate_features", [candidate])) != [candidate]:
        raise ConfigError(f"candidate_features of {model.name!r}: in a pipeline the candidate tower reads "
                          "candidate_id only, since the corpus is its vocabulary")
    known = {f.bucket_feature for f in features if f.bucket_feature} | set(by_name)
    query = list(model.hparams["query_features"])
    unknown = sorted(set(query) - known)
    if unknown or candidate in query:
        raise ConfigError(f"query_features of {model.name!r} must be schema features other than the candidate "
                          f"{candidate!r}; unknown: {unknown}")
    return {candidate: CANDIDATE}


def image_classification_eval_config(evaluation: EvaluationConfig, heads: dict) -> "tfma.EvalConfig":
    """Accuracy (gated by ``min_accuracy``), top-5 accuracy, example count and the confusion matrix,
    on raw examples with encoded images; the label is the class index."""
    import tensorflow_model_analysis as tfma

    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="SparseCategoricalAccuracy", config='{"name": "accuracy"}',
                          per_slice_thresholds=_gate(evaluation, evaluation.min_accuracy)),
        tfma.MetricConfig(class_name="SparseTopKCategoricalAccuracy", config='{"name": "top_5_accuracy", "k": 5}'),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ]
    return _one_label_eval_config(evaluation, heads, metrics, EXAMPLES_SIGNATURE)


def segmentation_eval_config(evaluation: EvaluationConfig, heads: dict) -> "tfma.EvalConfig":
    """Dice (gated by ``min_dice``), IoU, mean IoU, pixel accuracy (``pipelines.segmentation_metrics``) and example
    count of the ``probabilities`` map against the mask label."""
    import tensorflow_model_analysis as tfma

    module = "pipelines.segmentation_metrics"
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="Dice", module=module, per_slice_thresholds=_gate(evaluation, evaluation.min_dice)),
        tfma.MetricConfig(class_name="IoU", module=module),
        tfma.MetricConfig(class_name="MeanIoU", module=module),
        tfma.MetricConfig(class_name="PixelAccuracy", module=module),
    ]
    return _one_label_eval_config(evaluation, heads, metrics, EXAMPLES_SIGNATURE)


def _image_and_label(model: ModelConfig, features: list, label_types: tuple, what: str):
    """The one image feature and the first label, which must be of one of ``label_types`` (``what`` says which);
    refuses the model hyper-parameters that the schema decides."""
    images = [f.name for f in features if f.kind == schema_lib.IMAGE]
    labels = [f for f in features if f.kind == schema_lib.LABEL]
    if len(images) != 1 or not labels or labels[0].label_type not in label_types:
        raise ConfigError(f"an image schema needs one image feature (zoo.kind=image) and a label that is {what}; "
                          f"it has images {images} and labels {[f.name for f in labels]}")
    fixed = sorted({"input_shape", "num_classes"} & set(model.hparams))
    if fixed:
        raise ConfigError(f"hparams {fixed} of {model.name!r} come from the schema (zoo.image_shape and the label); "
                          "remove them")
    return labels[0]


def segmentation_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """A segmentation model reads the schema's one image and predicts its mask label (a BYTES label with
    ``zoo.image_shape=HxWx1``, and ``zoo.mask_classes=N`` for more than 2 classes)."""
    mask = _image_and_label(model, features, (schema_lib.MASK,), "a mask (BYTES, zoo.image_shape=HxWx1)")
    return {mask.name: schema_lib.MASK}


def image_classification_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """An image classifier reads the schema's one image and predicts its first label, a class index
    (INT with ``int_domain { min: 0 max: N-1 }``); the image shape and N come from the schema, not the
    model's hyper-parameters."""
    label = _image_and_label(model, features, (schema_lib.BINARY, schema_lib.MULTICLASS),
                             "a class index (INT, int_domain { min: 0 max: N-1 })")
    return {label.name: schema_lib.MULTICLASS}


def ranking_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """A ranking model has one head, on the schema's first label, which must be binary: AUC gates it."""
    labels = schema_lib.label_types(features)
    if not labels:
        raise ConfigError("the schema has no label (a feature tagged zoo.role=label)")
    label, kind = next(iter(labels.items()))
    if kind != schema_lib.BINARY:
        raise ConfigError(f"label {label!r} is a {kind} target, but a ranking model predicts a probability; "
                          "a binary label is INT with int_domain { min: 0 max: 1 } (or use a multi-task model "
                          "with a regression head)")
    return {label: kind}


def multitask_heads(model: ModelConfig, features: list) -> dict[str, str]:
    """A multi-task model's heads (``model_heads``), the first binary since its AUC decides the blessing."""
    heads = model_heads(model.name, model.hparams, schema_lib.label_types(features))[1]
    headline, kind = next(iter(heads.items()))
    if kind != schema_lib.BINARY:
        raise ConfigError(f"the first head of {model.name!r}, {headline!r}, decides the blessing by its AUC, so it "
                          "must be binary; put a binary head first in hparams.tasks")
    return heads


RANKING = PipelineTask(
    name="ranking",
    preprocessing_fn="pipelines.transform.preprocessing_fn",
    run_fn="pipelines.trainer.run_fn",
    headline_metric="auc",
    heads=ranking_heads,
    eval_config=ranking_eval_config,
)
# Multi-task models with binary and regression heads, one per label the model names (model_heads).
MULTITASK = dataclasses.replace(RANKING, name="multitask", headline_metric="{label}/auc", heads=multitask_heads,
                                eval_config=multitask_eval_config)
# Two-tower models trained on interactions, pushed as top-K models (pipelines.retrieval).
RETRIEVAL = dataclasses.replace(RANKING, name="retrieval", run_fn="pipelines.retrieval.run_fn",
                                headline_metric=f"recall@{max(RETRIEVAL_KS)}", heads=retrieval_heads,
                                eval_config=retrieval_eval_config)
# Image classifiers on encoded images with a class-index label (pipelines.images).
IMAGE_CLASSIFICATION = dataclasses.replace(RANKING, name="image_classification", run_fn="pipelines.images.run_fn",
                                           headline_metric="accuracy", heads=image_classification_heads,
                                           eval_config=image_classification_eval_config)
# Segmentation of encoded images by mask labels, 2-class or zoo.mask_classes=N (pipelines.images,
# pipelines.segmentation_metrics).
SEGMENTATION = dataclasses.replace(RANKING, name="segmentation", run_fn="pipelines.images.segmentation_run_fn",
                                   headline_metric="dice", heads=segmentation_heads,
                                   eval_config=segmentation_eval_config)
TASKS = {task.name: task for task in (RANKING, MULTITASK, RETRIEVAL, IMAGE_CLASSIFICATION, SEGMENTATION)}


def model_heads(model_name: str, hparams: dict, labels: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The hyper-parameters to build ``model_name`` with and its heads, ``{label: type}`` (``{}``: the
    model has one output). ``labels`` are the schema's, with their types (``zoo.schema.label_types``).

    A multi-task model without ``tasks`` gets one head per schema label. Each head trains on, and is
    evaluated against, the label of its name, so it must be one; a head without a ``type`` takes its
    label's, and a binary head needs a binary label.
    """
    import zoo

    if zoo.get_card(model_name).task != "multitask":
        return dict(hparams), {}
    tasks = hparams.get("tasks") or [{"name": label} for label in labels]
    unknown = sorted({task["name"] for task in tasks} - set(labels))
    if unknown:
        raise ConfigError(f"tasks {unknown} of {model_name} are not labels of the schema, which has {list(labels)}")
    tasks = [{"type": labels[task["name"]], **task} for task in tasks]
    classes = [task["name"] for task in tasks if task["type"] == schema_lib.MULTICLASS]
    if classes:
        raise ConfigError(f"tasks {classes} of {model_name} are class indices (int_domain 0 to N-1, N > 2), but a "
                          "multi-task head is binary or regression; give them type: regression, or change the domain")
    misfit = [task["name"] for task in tasks if task["type"] == schema_lib.BINARY != labels[task["name"]]]
    if misfit:
        raise ConfigError(f"tasks {misfit} of {model_name} are binary, but their labels are regression targets "
                          "(a binary label is INT with int_domain { min: 0 max: 1 }); give them type: regression")
    return {**hparams, "tasks": tasks}, {task["name"]: task["type"] for task in tasks}


def get_task(name: str) -> PipelineTask:
    if name not in TASKS:
        raise ConfigError(f"task {name!r} is not a task; pipelines support: {sorted(TASKS)}")
    return TASKS[name]
