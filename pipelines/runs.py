"""Past runs of a pipeline, read back from ML Metadata: what ran, what was reused, and per model its
metrics, blessing (and why not) and pushed version.

``zoo pipeline runs CONFIG`` prints ``list_runs``; ``zoo pipeline report`` and ``run_pipeline``
build on ``RunRecord``. A component reused from the cache counts as part of every run that reused it,
with state ``CACHED``.
"""
from __future__ import annotations

import dataclasses
import json

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


@dataclasses.dataclass(frozen=True)
class Component:
    node_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    properties: dict[str, str]  # the execution's (custom) properties, e.g. a Trainer's custom_config
    outputs: dict[str, list[metadata_store_pb2.Artifact]]  # output key -> artifacts


@dataclasses.dataclass(frozen=True)
class ModelResult:
    """One trained model of a run (a pipeline with a ``models`` list has several)."""

    suffix: str  # of its components' ids: Trainer{suffix}, Evaluator{suffix}, Pusher{suffix}
    model_name: str
    trainer: Component
    evaluator: Component | None
    pusher: Component | None

    @property
    def model_uri(self) -> str | None:
        return _uri(self.trainer, "model")

    @property
    def model_run_uri(self) -> str | None:  # TensorBoard logs
        return _uri(self.trainer, "model_run")

    @property
    def evaluation_uri(self) -> str | None:
        return _uri(self.evaluator, "evaluation")

    @property
    def blessed(self) -> bool | None:
        """None when the run has no Evaluator for this model (or it did not finish)."""
        blessing = _artifact(self.evaluator, "blessing")
        return None if blessing is None else bool(blessing.custom_properties["blessed"].int_value)

    @property
    def baseline_uri(self) -> str | None:
        blessing = _artifact(self.evaluator, "blessing")
        if blessing is None or "baseline_model" not in blessing.custom_properties:
            return None
        return blessing.custom_properties["baseline_model"].string_value

    @property
    def pushed_path(self) -> str | None:
        pushed = _artifact(self.pusher, "pushed_model")
        if pushed is None or not pushed.custom_properties["pushed"].int_value:
            return None
        return pushed.custom_properties["pushed_destination"].string_value


@dataclasses.dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_ms: int  # since the epoch
    components: dict[str, Component]  # by node id, in execution order

    @property
    def models(self) -> list[ModelResult]:
        results = []
        for node_id, trainer in self.components.items():
            if node_id.startswith("Trainer"):
                suffix = node_id[len("Trainer"):]
                config = json.loads(trainer.properties.get("custom_config", "{}") or "{}")
                results.append(ModelResult(suffix, config.get("model_name", "?"), trainer,
                                           self.components.get(f"Evaluator{suffix}"),
                                           self.components.get(f"Pusher{suffix}")))
        return results

    def states(self) -> dict[str, str]:
        return {node_id: c.state for node_id, c in self.components.items()}


def _artifact(component: Component | None, key: str):
    artifacts = component.outputs.get(key) if component else None
    return artifacts[0] if artifacts else None


def _uri(component: Component | None, key: str) -> str | None:
    artifact = _artifact(component, key)
    return artifact.uri if artifact is not None else None


def list_runs(metadata_path: str, pipeline_name: str) -> list[RunRecord]:
    """Every run of ``pipeline_name`` recorded in the SQLite ML Metadata at ``metadata_path``, oldest first."""
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    prefix = f"{pipeline_name}."
    runs = []
    for context in sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id):
        components = {}
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            nodes = [c.name for c in store.get_contexts_by_execution(execution.id) if c.type == "node"]
            if not nodes or not nodes[0].startswith(prefix):
                continue
            node_id = nodes[0][len(prefix):]
            components[node_id] = Component(
                node_id=node_id,
                state=metadata_store_pb2.Execution.State.Name(execution.last_known_state),
                properties={k: _value(v) for k, v in [*execution.properties.items(),
                                                      *execution.custom_properties.items()]},
                outputs=_outputs(store, execution.id),
            )
        if components:
            runs.append(RunRecord(context.name, context.create_time_since_epoch, components))
    return runs


def _outputs(store, execution_id: int) -> dict[str, list]:
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in _OUTPUT_EVENTS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return outputs


def _value(value: metadata_store_pb2.Value) -> str:
    kind = value.WhichOneof("value")
    return str(getattr(value, kind)) if kind else ""


# Reading an evaluation (TFMA's files under the ModelEvaluation artifact).

@dataclasses.dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, dict[str, float]]  # slice ("" = overall) -> metric -> candidate's value
    baseline_metrics: dict[str, float]  # overall, the baseline's; empty without a baseline
    failures: list[str]  # why the model was not blessed: one line per failed threshold
    roc: list[tuple[float, float]]  # overall (false positive rate, true positive rate)
    calibration: list[tuple[float, float, float]]  # overall (mean prediction, mean label, weight) per bucket
    # overall, a classifier's: (true class, predicted class, the argmax) -> examples
    confusion: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)


def read_evaluation(uri: str) -> Evaluation:
    from tensorflow_model_analysis.writers import metrics_plots_and_validations_writer as io

    metrics: dict[str, dict[str, float]] = {}
    baseline: dict[str, float] = {}
    for record in io.load_and_deserialize_metrics(uri):
        where = slice_name(record.slice_key)
        for item in record.metric_keys_and_values:
            if not item.value.HasField("double_value") or item.key.is_diff:
                continue
            value = item.value.double_value.value
            name = metric_name(item.key)
            if item.key.model_name == "baseline":
                if not where:
                    baseline[name] = value
            else:
                metrics.setdefault(where, {})[name] = value
    roc, calibration, confusion = [], [], {}
    for record in io.load_and_deserialize_plots(uri):
        if slice_name(record.slice_key):
            continue
        for item in record.plot_keys_and_values:
            if item.key.model_name == "baseline":
                continue
            if item.value.HasField("confusion_matrix_at_thresholds"):
                roc = sorted(_roc_point(m) for m in item.value.confusion_matrix_at_thresholds.matrices)
            if item.value.HasField("calibration_histogram_buckets"):
                calibration = [
                    (b.total_weighted_refined_prediction.value / b.num_weighted_examples.value,
                     b.total_weighted_label.value / b.num_weighted_examples.value, b.num_weighted_examples.value)
                    for b in item.value.calibration_histogram_buckets.buckets if b.num_weighted_examples.value > 0
                ]
            if item.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                (matrix,) = item.value.multi_class_confusion_matrix_at_thresholds.matrices  # threshold 0: argmax
                confusion = {(e.actual_class_id, e.predicted_class_id): e.num_weighted_examples for e in matrix.entries}
    validation = io.load_and_deserialize_validation_result(uri)
    failures = [_failure(f, slice_name(per_slice.slice_key))
                for per_slice in validation.metric_validations_per_slice for f in per_slice.failures]
    return Evaluation(metrics, baseline, failures, roc, calibration, confusion)


def metric_name(key) -> str:
    """A TFMA metric key's name; a multi-output (multi-task) model's are ``<output>/<metric>``."""
    return f"{key.output_name}/{key.name}" if key.output_name else key.name


def _roc_point(matrix) -> tuple[float, float]:
    positives = matrix.true_positives + matrix.false_negatives
    negatives = matrix.false_positives + matrix.true_negatives
    return (matrix.false_positives / negatives if negatives else 0.0,
            matrix.true_positives / positives if positives else 0.0)


def _failure(failure, where: str) -> str:
    threshold = failure.metric_threshold
    name = metric_name(failure.metric_key)
    name = f"{name} on {where}" if where else name
    value = failure.metric_value.double_value.value
    if failure.metric_key.is_diff:
        change = threshold.change_threshold
        limit = change.absolute.value if change.HasField("absolute") else change.relative.value
        # Higher is better for every metric the tasks gate on: the limit is how far it may fall.
        return (f"{name} changed by {value:+.4f} against the baseline (the blessed model); "
                f"it may fall by at most {-limit:.4f}")
    bound = threshold.value_threshold
    limits = []
    if bound.HasField("lower_bound"):
        limits.append(f"at least {bound.lower_bound.value:.4f}")
    if bound.HasField("upper_bound"):
        limits.append(f"at most {bound.upper_bound.value:.4f}")
    return f"{name} is {value:.4f}; it must be {' and '.join(limits)}"


def slice_name(slice_key) -> str:
    """``feature=value`` (joined with ``, ``) for a TFMA SliceKey; ``""`` for the overall slice."""
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind)
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts)


def format_runs(runs: list[RunRecord], headline: str = "auc") -> list[tuple[str, ...]]:
    """Rows for ``zoo pipeline runs``: one per model per run, the header first."""
    rows = [("run", "model", "executed", "cached", headline, "log_loss", "blessed", "pushed")]
    for run in runs:
        states = list(run.states().values())
        executed, cached = str(states.count("COMPLETE")), str(states.count("CACHED"))
        if not run.models:  # stopped before training (e.g. by AnomaliesGate)
            failed = [n for n, s in run.states().items() if s == "FAILED"]
            rows.append((run.run_id, "-", executed, cached, "-", "-", "-", f"failed at {', '.join(failed) or '?'}"))
        for model in run.models:
            metrics = _overall_metrics(model)
            blessed = {None: "-", True: "yes", False: "no"}[model.blessed]
            rows.append((run.run_id, model.model_name, executed, cached, _number(metrics.get(headline)),
                         _number(metrics.get("binary_crossentropy")), blessed, model.pushed_path or "-"))
    return rows


def _overall_metrics(model: ModelResult) -> dict[str, float]:
    return read_evaluation(model.evaluation_uri).metrics.get("", {}) if model.evaluation_uri else {}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"

