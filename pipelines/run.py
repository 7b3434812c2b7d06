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

from pipelines.config import PipelineConfig
from pipelines.inputs import Echo, echo_line, prepare_input
from pipelines.pipeline import create_pipeline


@dataclasses.dataclass(frozen=True)
class RunSummary:
    data: str
    component_seconds: dict[str, float]
    total_seconds: float
    metrics: dict[str, float]
    blessed: bool
    pushed_path: str | None

class _ComponentProgress(logging.Handler):
    """Turns LocalDagRunner's 'Component X is running/finished' log records into progress lines."""

    def __init__(self, echo: Echo):
        super().__init__(logging.INFO)
        self.echo = echo
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Component %s is running.":
            (name,) = record.args
            self.started[name] = time.monotonic()
            self.echo(f"[{name}] running")
        elif record.msg == "Component %s is finished.":
            (name,) = record.args
            self.seconds[name] = time.monotonic() - self.started.get(name, time.monotonic())
            self.echo(f"[{name}] done in {self.seconds[name]:.1f}s")

def run_pipeline(config: PipelineConfig, echo: Echo = echo_line) -> RunSummary:
    from tfx import v1 as tfx

    started = time.monotonic()
    prepared = prepare_input(config, echo)
    echo(f"data: {prepared.description}")
    pipeline = create_pipeline(config, prepared.csv_dir, pathlib.Path(config.schema).read_text())
    progress = _ComponentProgress(echo)
    log_file = pathlib.Path(config.output_dir) / "logs" / "pipeline.log"
    with _captured_logs(progress, log_file):
        tfx.orchestration.LocalDagRunner().run(pipeline)
        metrics, blessed, pushed = read_results(config)
    return RunSummary(prepared.description, progress.seconds, time.monotonic() - started, metrics, blessed, pushed)

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

def print_summary(summary: RunSummary, echo: Echo = echo_line) -> None:
    echo(f"pipeline finished in {summary.total_seconds:.0f}s on {summary.data}")
    for name in ("auc", "binary_crossentropy", "calibration", "example_count"):
        if name in summary.metrics:
            label = "log_loss" if name == "binary_crossentropy" else name
            echo(f"  held-out {label:<12} {summary.metrics[name]:.4f}")
    echo(f"  blessed: {'yes' if summary.blessed else 'no (below the evaluation threshold)'}")
    echo(f"  pushed:  {summary.pushed_path or 'nothing'}")

def read_results(config: PipelineConfig) -> tuple[dict[str, float], bool, str | None]:
    """The latest evaluation metrics, blessing and pushed path of this pipeline, from ML Metadata."""
    import tensorflow_model_analysis as tfma
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    with metadata.Metadata(tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path)) as m:
        store = m.store

        def latest(type_name):
            artifacts = store.get_artifacts_by_type(type_name)
            return max(artifacts, key=lambda a: a.id) if artifacts else None

        evaluation, blessing, pushed = latest("ModelEvaluation"), latest("ModelBlessing"), latest("PushedModel")
    metrics = {}
    if evaluation is not None:
        result = tfma.load_eval_result(evaluation.uri)
        for _, by_output in result.slicing_metrics[:1]:
            for key, value in by_output[""][""].items():
                if "doubleValue" in value:
                    metrics[key] = value["doubleValue"]
    blessed = bool(blessing and blessing.custom_properties["blessed"].int_value)
    pushed_path = None
    if pushed is not None and pushed.custom_properties["pushed"].int_value:
        pushed_path = pushed.custom_properties["pushed_destination"].string_value
    return metrics, blessed, pushed_path
