"""Runs a configured pipeline: prepares its input (``pipelines.inputs``), runs it, and summarizes
what it produced.

``run_pipeline`` is what ``zoo pipeline run`` calls; it prints one line per component as
LocalDagRunner starts and finishes it, keeps the full TFX/Beam log in
``<output_dir>/logs/pipeline.log``, and reads the results back from ML Metadata.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

from pipelines import runners
from pipelines.config import PipelineConfig
from pipelines.inputs import Echo, echo_line, prepare_input
from pipelines.pipeline import create_pipeline
from pipelines.report import write_report
from pipelines.runs import ModelResult, RunRecord, list_runs, read_evaluation


@dataclasses.dataclass(frozen=True)
class ModelOutcome:
    """What became of one trained model: its held-out metrics, blessing (and why not) and push."""

    model_name: str
    metrics: dict[str, float]  # overall, on the eval split; empty without an Evaluator
    blessed: bool | None  # None: not evaluated (evaluation.enabled is false)
    pushed_path: str | None
    failures: tuple[str, ...] = ()  # the thresholds it failed, when not blessed
    baseline_metrics: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    data: str
    component_seconds: dict[str, float]
    total_seconds: float
    metrics: dict[str, float]  # of the first (usually the only) model
    blessed: bool
    pushed_path: str | None
    models: tuple[ModelOutcome, ...] = ()  # every trained model, in config order
    run_id: str | None = None  # the ML Metadata pipeline run
    report_path: str | None = None  # the run's HTML report

class _ComponentProgress(logging.Handler):
    """Turns LocalDagRunner's 'Component X is running/finished' log records into progress lines."""

    def __init__(self, echo: Echo):
        super().__init__(logging.INFO)
        self.echo = echo
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg in runners.STARTED_MESSAGES:
            (name,) = record.args
            self.started[name] = time.monotonic()
            self.echo(f"[{name}] running")
        elif record.msg in runners.FINISHED_MESSAGES:
            (name,) = record.args
            self.seconds[name] = time.monotonic() - self.started.get(name, time.monotonic())
            self.echo(f"[{name}] done in {self.seconds[name]:.1f}s")

def run_pipeline(config: PipelineConfig, echo: Echo = echo_line) -> RunSummary:
    started = time.monotonic()
    prepared = prepare_input(config, echo)
    echo(f"data: {prepared.description}")
    pipeline = create_pipeline(config, prepared.csv_dir, pathlib.Path(config.schema).read_text())
    progress = _ComponentProgress(echo)
    log_file = pathlib.Path(config.output_dir) / "logs" / "pipeline.log"
    with _captured_logs(progress, log_file):
        try:
            with runners.heartbeat(progress.started, progress.seconds, echo):
                spec_path = runners.run(config, pipeline)
        except Exception as error:
            _report_failed_run(config, error, echo)
            raise
        if spec_path is not None:  # kubeflow_v2: compiled for the cluster, nothing ran here
            echo(f"Kubeflow V2 pipeline spec written to {spec_path}")
            return RunSummary(prepared.description, {}, time.monotonic() - started, {}, False, None)
        run, outcomes = read_results(config)
        report_path = write_report(config, run, data=prepared.description)
    first = outcomes[0] if outcomes else ModelOutcome("", {}, None, None)
    return RunSummary(prepared.description, progress.seconds, time.monotonic() - started, first.metrics,
                      bool(first.blessed), first.pushed_path, tuple(outcomes), run.run_id, report_path)


def _report_failed_run(config: PipelineConfig, error: Exception, echo: Echo) -> None:
    """Writes the report of a run that stopped (e.g. at AnomaliesGate), when ML Metadata recorded it."""
    try:
        runs = list_runs(config.metadata_path, config.pipeline_name)
        if runs:
            echo(f"report: {write_report(config, runs[-1], error=str(error))}")
    except Exception as report_error:  # noqa: BLE001  (the caller must see the run's own error, not this one)
        echo(f"no report for the stopped run: {report_error}")

class _captured_logs:
    """Routes the absl (TFX), TensorFlow and Beam logs to a file and the progress handler.

    The handlers sit on those loggers themselves, with an explicit level, because Beam and
    TensorFlow reconfigure the root logger while a pipeline runs.
    """

    LOGGERS = ("absl", "tensorflow", "apache_beam")

    def __init__(self, progress: logging.Handler, log_file: pathlib.Path):
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self.file = logging.FileHandler(log_file)
        self.file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.progress = progress

    def __enter__(self):
        import absl.logging

        # Through the absl flag: a later absl flag parse would otherwise reset the level to WARNING.
        self.saved_verbosity = absl.logging.get_verbosity()
        absl.logging.set_verbosity(absl.logging.INFO)
        self.saved = []
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            self.saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
            logger.handlers = [self.file, self.progress] if name == "absl" else [self.file]
            logger.setLevel(logging.INFO)
            logger.propagate = False
        return self

    def __exit__(self, *exc):
        import absl.logging

        absl.logging.set_verbosity(self.saved_verbosity)
        for logger, handlers, level, propagate in self.saved:
            logger.handlers, logger.propagate = handlers, propagate
            logger.setLevel(level)
        self.file.close()
        return False


_SHOWN_FIRST = ("auc", "binary_crossentropy", "calibration", "mean_squared_error", "mean_absolute_error")
_SHOWN_AS = {"binary_crossentropy": "log_loss"}  # what users call it


def _shown_order(name: str) -> tuple:
    """Per head: the usual headline metrics first, then the rest by name, K in numeric order (recall@10,
    recall@50, recall@100)."""
    head, _, metric = name.rpartition("/")
    stem, _, k = metric.partition("@")
    first = _SHOWN_FIRST.index(metric) if metric in _SHOWN_FIRST else len(_SHOWN_FIRST)
    return head, first, stem, int(k) if k.isdigit() else 0


def print_summary(summary: RunSummary, echo: Echo = echo_line) -> None:
    echo(f"pipeline finished in {summary.total_seconds:.0f}s on {summary.data}")
    for outcome in summary.models:
        if len(summary.models) > 1:
            echo(f"model {outcome.model_name}:")
        # A multi-task model's metrics are named <head>/<metric>: each head's are shown in turn.
        for name in sorted(outcome.metrics, key=_shown_order):
            head, _, metric = name.rpartition("/")
            baseline = outcome.baseline_metrics.get(name)
            against = f"  (baseline {baseline:.4f})" if baseline is not None else ""
            shown = _SHOWN_AS.get(metric, metric)
            label = f"{head}/{shown}" if head else shown
            echo(f"  held-out {label:<12} {outcome.metrics[name]:.4f}{against}")
        if outcome.blessed is None:
            echo("  blessed: not evaluated (evaluation.enabled is false)")
        else:
            echo(f"  blessed: {'yes' if outcome.blessed else 'no'}")
        for failure in outcome.failures:
            echo(f"    {failure}")
        echo(f"  pushed:  {outcome.pushed_path or 'nothing'}")
    if summary.report_path:
        echo(f"report: {summary.report_path}")


def read_results(config: PipelineConfig) -> tuple[RunRecord, list[ModelOutcome]]:
    """This pipeline's latest run in ML Metadata, and each of its models' outcome."""
    run = list_runs(config.metadata_path, config.pipeline_name)[-1]
    order = [suffix for suffix, _, _ in config.trained_models()]  # ML Metadata knows the execution order only
    models = sorted(run.models, key=lambda model: order.index(model.suffix) if model.suffix in order else len(order))
    return run, [model_outcome(model) for model in models]


def model_outcome(model: ModelResult) -> ModelOutcome:
    if model.evaluation_uri is None:
        return ModelOutcome(model.model_name, {}, model.blessed, model.pushed_path)
    evaluation = read_evaluation(model.evaluation_uri)
    return ModelOutcome(model.model_name, evaluation.metrics.get("", {}), model.blessed, model.pushed_path,
                        tuple(evaluation.failures), evaluation.baseline_metrics)
