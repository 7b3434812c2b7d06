"""The pipeline config: a small YAML file, validated into frozen dataclasses.

Unknown keys and wrong types are errors that name the key, so a typo never silently falls
back to a default. Relative paths are resolved against the config file's directory.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import os
import pathlib
import types
import typing
from typing import Any, Mapping

import yaml

# The image tasks' own sources, written as tf.Example TFRecords of encoded images (pipelines.images); each
# task also reads tfrecord (tf.Examples that already hold encoded images).
IMAGE_TASK_SOURCES = {"image_classification": ("image_folder", "digits"), "segmentation": ("mask_folder", "isbi")}
IMAGE_SOURCES = tuple(source for sources in IMAGE_TASK_SOURCES.values() for source in sources)
DATA_SOURCES = ("movielens", "movielens_history", "synthetic", "csv", "tfrecord", "parquet", "adult",
                "criteo_synthetic", *IMAGE_SOURCES)
FILE_SOURCES = ("csv", "tfrecord", "parquet")  # a directory of the user's files in that format (tf.Examples)
SPLITS = ("hash", "time")
RUNNERS = ("local", "beam", "kubeflow_v2")  # see pipelines/runners.py
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "parameter_server")  # see pipelines/distribute.py


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class DataConfig:
    source: str = "movielens"  # one of DATA_SOURCES
    # movielens_history: MovieLens events; the pipeline builds each impression's history (HistoryExampleGen)
    # movielens(_history), adult, isbi: a local copy; csv: a directory of CSV files; image_folder:
    # <path>/<class>/<image>; mask_folder: <path>/image/<name> and <path>/mask/<name>
    path: str | None = None
    download: bool = True  # movielens, adult: fetch the official files when no copy is found
    fallback_to_synthetic: bool = True  # movielens, adult: when no copy can be found or fetched
    max_rows: int | None = None  # movielens: the first N ratings in time order; adult: the first N rows
    synthetic_rows: int = 20_000
    seed: int = 0
    train_buckets: int = 4  # train:eval = train_buckets:eval_buckets
    eval_buckets: int = 1
    # hash: ExampleGen splits rows by a hash; time: the latest rows by time_feature are eval (zoo writes
    # train/ and eval/ for the data sets it prepares; a csv/tfrecord/parquet directory must hold them).
    split: str = "hash"
    time_feature: str = "timestamp"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name: str = "deepfm"
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    train_steps: int = 1000
    eval_steps: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 0
    strategy: str = "default"  # one of STRATEGIES: the tf.distribute strategy the Trainer uses
    # Every batch norm's moving-average momentum (image models; Dice in DIN and DIEN). None: Keras' 0.99,
    # which needs several hundred steps to settle; 0.9 for short runs (zoo.batch_norm.set_batch_norm_momentum).
    batch_norm_momentum: float | None = None
    # After training, every batch norm's moving statistics recomputed as the plain mean over this many train
    # batches, without augmentation ("precise BN", zoo.batch_norm.recompute_batch_norm_statistics); 0: keep the
    # moving averages of training, which lag behind the weights in a short run.
    batch_norm_statistics_batches: int = 0


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    enabled: bool = True  # false: no Evaluator, every trained model is pushed (model comparison runs)
    min_auc: float = 0.5  # the blessing threshold: the model is pushed only above it
    min_recall: float = 0.0  # the same for a retrieval model, on its recall@100 (pipelines.tasks.RETRIEVAL_KS)
    min_accuracy: float = 0.0  # the same for an image classifier, on its accuracy
    min_dice: float = 0.0  # the same for a segmentation model, on its Dice
    # Resolve the latest blessed model as the baseline: a candidate whose AUC is more than
    # change_threshold below the baseline's is not blessed (the first run has no baseline).
    baseline: bool = False
    change_threshold: float = 0.0
    slices: tuple[str, ...] = ()  # raw feature names: metrics are also computed per value of each


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    pipeline_name: str
    schema: str
    output_dir: str  # holds pipeline_root/, metadata.sqlite, data/ and serving/
    serving_model_name: str
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    runner: str = "local"  # one of RUNNERS
    # Passed to every Beam job of the pipeline, e.g. ["--runner=FlinkRunner", "--flink_master=host:8081"].
    beam_pipeline_args: tuple[str, ...] = ()
    task: str = "ranking"  # see pipelines.tasks: its Transform, Trainer contract and Evaluator metrics
    # Several models trained from one ExampleGen/Transform instead of `model`, each with its own
    # Trainer, Evaluator and Pusher, pushed as <serving_model_name>_<model name>.
    models: tuple[ModelConfig, ...] = ()
    # Real raw eval examples in each pushed model's TF Serving warm-up requests; 0: no ServingWarmup step.
    warmup_examples: int = 32
    # Transform's own TFDV statistics of its input and output (pre_transform_feature_stats/ and
    # post_transform_feature_stats/ of the transform graph, and post-transform anomalies), as TFX does
    # by default; false spares the two passes (about 3% of Transform's time at 100k Criteo-shaped rows).
    transform_statistics: bool = True

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.output_dir, "pipeline_root")  # os.path keeps gs:// URLs whole

    @property
    def metadata_path(self) -> str:
        return str(pathlib.Path(self.output_dir) / "metadata.sqlite")

    @property
    def serving_root(self) -> str:
        return os.path.join(self.output_dir, "serving")

    def replace(self, **changes) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)

    def trained_models(self) -> list[tuple[str, ModelConfig, str]]:
        """(component id suffix, model, serving name) of every model this pipeline trains."""
        if not self.models:
            return [("", self.model, self.serving_model_name)]
        return [(f"_{m.name}", m, f"{self.serving_model_name}_{m.name}") for m in self.models]


def load_config(path: str | pathlib.Path, **overrides: Any) -> PipelineConfig:
    """Reads and validates a YAML config; ``overrides`` replace top-level keys."""
    path = pathlib.Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping")
    raw.update(overrides)
    if "model" in raw and raw.get("models"):
        raise ConfigError(f"{path}: give either model or models, not both")
    config = _build(PipelineConfig, raw, where=str(path))
    base = path.absolute().parent
    resolved = {"schema": _resolve(base, config.schema), "output_dir": _resolve(base, config.output_dir)}
    if config.data.path is not None:
        resolved["data"] = dataclasses.replace(config.data, path=_resolve(base, config.data.path))
    config = config.replace(**resolved)
    _check_values(config)
    return config


def dump_config(config: PipelineConfig) -> str:
    """The config as YAML that ``load_config`` reads back to an equal config (paths are absolute)."""

    def plain(value):  # tuples as lists, for yaml.safe_dump
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    raw = plain(dataclasses.asdict(config))
    if config.models:
        del raw["model"]  # a config gives model or models
    return yaml.safe_dump(raw, sort_keys=False)


def _resolve(base: pathlib.Path, value: str) -> str:
    # normpath, not resolve(): symbolic links in the user's paths stay as they wrote them.
    # URLs (gs://, s3://, hdfs://) are absolute too: remote runners read and write there.
    return value if pathlib.Path(value).is_absolute() or "://" in value else os.path.normpath(base / value)


def _check_values(config: PipelineConfig) -> None:
    import zoo

    if config.data.source not in DATA_SOURCES:
        raise ConfigError(f"data.source must be one of {DATA_SOURCES}, got {config.data.source!r}")
    if config.data.source in (*FILE_SOURCES, "image_folder", "mask_folder") and not config.data.path:
        raise ConfigError(f"data.source {config.data.source!r} needs data.path, a directory of its files")
    owner = next((task for task, sources in IMAGE_TASK_SOURCES.items() if config.data.source in sources), None)
    if owner and config.task != owner:
        raise ConfigError(f"data.source {config.data.source!r} holds images, for task {owner}, not {config.task!r}")
    if config.task in IMAGE_TASK_SOURCES and config.data.source not in (*IMAGE_TASK_SOURCES[config.task], "tfrecord"):
        raise ConfigError(f"task {config.task} reads images: data.source must be one of "
                          f"{(*IMAGE_TASK_SOURCES[config.task], 'tfrecord')}, got {config.data.source!r}")
    if config.data.split not in SPLITS:
        raise ConfigError(f"data.split must be one of {SPLITS}, got {config.data.split!r}")
    if config.data.split == "time":
        if config.data.source in ("adult", "criteo_synthetic", *IMAGE_SOURCES):
            raise ConfigError(f"data.split 'time' needs a time feature; data.source {config.data.source!r} has none")
        if config.data.source in FILE_SOURCES and not all(
                pathlib.Path(config.data.path, split).is_dir() for split in ("train", "eval")):
            raise ConfigError(f"data.split 'time' on your own files needs {config.data.path}/train/ and /eval/")
    if config.warmup_examples < 0:
        raise ConfigError(f"warmup_examples must be 0 (none) or more, got {config.warmup_examples}")
    if config.training.batch_norm_statistics_batches < 0:
        raise ConfigError("training.batch_norm_statistics_batches must be 0 (keep the moving averages) or more, "
                          f"got {config.training.batch_norm_statistics_batches}")
    if config.runner not in RUNNERS:
        raise ConfigError(f"runner must be one of {RUNNERS}, got {config.runner!r}")
    if config.training.strategy not in STRATEGIES:
        raise ConfigError(f"training.strategy must be one of {STRATEGIES}, got {config.training.strategy!r}")
    from pipelines.tasks import get_task
    from zoo import schema as schema_lib
    from zoo.registry import unknown_hyperparameters

    task = get_task(config.task)
    names = [model.name for _, model, _ in config.trained_models()]
    if len(set(names)) != len(names):
        raise ConfigError(f"models must have distinct names, got {names}")
    for _, model, _ in config.trained_models():
        try:
            model_task = zoo.get_card(model.name).task
        except zoo.UnknownModelError as error:  # its message names the closest models
            raise ConfigError(str(error)) from None
        if model_task != config.task:
            raise ConfigError(f"model {model.name!r} is a {model_task} model but the pipeline's task is "
                              f"{config.task!r}")
        problem = unknown_hyperparameters(model.name, model.hparams)
        if problem:  # found here, not after ExampleGen and Transform have run
            raise ConfigError(problem)
    if config.evaluation.baseline and (config.models or not config.evaluation.enabled):
        # The resolver cannot tell the models of one pipeline apart, and without an Evaluator there is no blessing.
        raise ConfigError("evaluation.baseline needs a single model (not models) and evaluation.enabled")
    if not pathlib.Path(config.schema).is_file():
        raise ConfigError(f"schema file not found: {config.schema}")
    declared = schema_lib.schema_features(schema_lib.load_schema(config.schema))
    features = {f.name for f in declared}
    for _, model, _ in config.trained_models():
        task.heads(model, declared)  # the task refuses a model it cannot train, evaluate or serve
    if config.data.source == "movielens_history":
        history_length(declared)
    unknown = sorted(set(config.evaluation.slices) - features)
    if unknown:
        raise ConfigError(f"evaluation.slices {unknown} are not features of {config.schema}; known: {sorted(features)}")


def history_length(features: list) -> int:
    """The longest history a schema keeps: the ``zoo.max_len`` of its history features (``features``
    as ``zoo.schema.schema_features`` gives them)."""
    from zoo.data.histories import HISTORY_COLUMNS

    lengths = [f.max_len for f in features if f.name in HISTORY_COLUMNS and f.max_len]
    if not lengths:
        raise ConfigError(f"data.source 'movielens_history' needs a schema with history features "
                          f"{list(HISTORY_COLUMNS)}, like schemas/movielens_history.pbtxt; this one has none")
    return max(lengths)


def _build(cls, raw: Any, where: str):
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, f"{where}: {name}")
    missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    return cls(**values)


def _coerce(hint, value, where):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{where} must not be empty")
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is collections.abc.Mapping and isinstance(value, Mapping):
            return dict(value)
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin in (int, str, bool) and type(value) is origin:
            return value
        if origin is tuple and isinstance(value, list):  # tuple[X, ...] from a YAML list
            (item, _) = typing.get_args(option)
            return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{where} must be {names}, got {value!r}")
