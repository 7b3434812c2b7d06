"""Runs a configured pipeline: prepares its input, runs it, and summarizes what it produced.

``run_pipeline`` is what ``zoo pipeline run`` calls; it prints one line per component as
LocalDagRunner starts and finishes it, keeps the full TFX/Beam log in
``<output_dir>/logs/pipeline.log``, and reads the results back from ML Metadata.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import time
from typing import Callable

from pipelines.config import PipelineConfig
from pipelines.pipeline import create_pipeline

Echo = Callable[[str], None]


def echo_line(line: str) -> None:
    print(line, flush=True)  # progress must show up live even when stdout is a pipe or a file


@dataclasses.dataclass(frozen=True)
class PreparedInput:
    csv_dir: str
    description: str  # what data the run uses, for the user


@dataclasses.dataclass(frozen=True)
class RunSummary:
    data: str
    component_seconds: dict[str, float]
    total_seconds: float
    metrics: dict[str, float]
    blessed: bool
    pushed_path: str | None


def prepare_input(config: PipelineConfig, echo: Echo = echo_line) -> PreparedInput:
    """Writes the CSV that ExampleGen reads (or points at the user's CSV directory)."""
    from zoo import data
    from zoo.data import adult, criteo

    source, rows, seed = config.data.source, config.data.synthetic_rows, config.data.seed
    if source == "csv":
        return PreparedInput(config.data.path, f"CSV files in {config.data.path}")
    csv_dir = pathlib.Path(config.output_dir) / "data"
    if source == "criteo_synthetic":  # streamed in chunks: it may be millions of rows
        _write_if_changed(lambda out: criteo.write_synthetic_csv(out, rows, seed=seed), csv_dir)
        return PreparedInput(str(csv_dir), _synthetic_description("Criteo", rows, seed))
    if source == "movielens":
        real = _RealData(
            "MovieLens", "ratings.csv", "$ZOO_MOVIELENS_DIR", data.locate,
            lambda found: data.load_ctr(found, max_rows=config.data.max_rows),
            "MovieLens latest-small from {source} ({rows:,} ratings)", data.synthetic.movielens_ctr,
        )  # fmt: skip
        frame, description = _real_or_synthetic(config, real, echo)
        write = data.write_csv
    elif source == "adult":
        real = _RealData(
            "UCI Adult", "adult.data", "$ZOO_ADULT_DIR", adult.locate, lambda found: adult.load(found, "train"),
            "UCI Adult's train split from {source} ({rows:,} rows)", adult.synthetic,
        )  # fmt: skip
        frame, description = _real_or_synthetic(config, real, echo)
        write = adult.write_csv
    else:
        frame = data.synthetic.movielens_ctr(rows, seed=seed)
        description = _synthetic_description("MovieLens", len(frame), seed)
        write = data.write_csv
    _write_if_changed(lambda out: write(frame, out), csv_dir)
    return PreparedInput(str(csv_dir), description)


@dataclasses.dataclass(frozen=True)
class _RealData:
    """A real data set that ``prepare_input`` finds or downloads, and its synthetic twin."""

    title: str  # in messages
    marker: str  # a file that only a copy of the data set holds
    env_var: str  # the environment variable its ``locate`` reads
    locate: Callable  # (source or None, download=...) -> directory, or raises DatasetUnavailable
    load: Callable  # directory -> frame
    description: str  # formatted with the directory (source) and the number of rows
    synthetic: Callable  # (num_rows, seed=...) -> frame with the same columns


def _real_or_synthetic(config: PipelineConfig, real: _RealData, echo: Echo):
    """The real data (``data.path``, else the environment variable, the cache, the download), else its
    synthetic twin when ``data.fallback_to_synthetic`` allows; returns the frame and its description."""
    from zoo.data import DatasetUnavailable

    local_copy = config.data.path
    if local_copy and not pathlib.Path(local_copy, real.marker).is_file():
        echo(f"no {real.title} copy at {local_copy}; trying {real.env_var}, the cache and the download")
        local_copy = None
    try:
        source = real.locate(local_copy, download=config.data.download)
        frame = real.load(source)
        return frame, real.description.format(source=source, rows=len(frame))
    except DatasetUnavailable as error:
        if not config.data.fallback_to_synthetic:
            raise
        echo(f"{real.title} is not available ({error}); running on synthetic data with the same schema instead.")
        frame = real.synthetic(config.data.synthetic_rows, seed=config.data.seed)
        return frame, _synthetic_description(real.title, len(frame), config.data.seed)


def _synthetic_description(title: str, rows: int, seed: int) -> str:
    return f"synthetic {title}-shaped data ({rows:,} rows, seed {seed})"


def _write_if_changed(write: Callable[[pathlib.Path], pathlib.Path], csv_dir: pathlib.Path) -> None:
    """Has ``write(directory)`` write ``data.csv``, and keeps it only when its content changes:
    ExampleGen's cache key includes mtimes."""
    import filecmp
    import tempfile

    csv_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=csv_dir.parent) as staging:
        written = write(pathlib.Path(staging))
        target = csv_dir / written.name
        if not (target.exists() and filecmp.cmp(written, target, shallow=False)):
            written.replace(target)


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
