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

DATA_SOURCES = ("movielens", "synthetic", "csv", "adult", "criteo_synthetic")
RUNNERS = ("local",)


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class DataConfig:
    source: str = "movielens"  # one of DATA_SOURCES
    path: str | None = None  # movielens, adult: a local copy; csv: a directory of CSV files
    download: bool = True  # movielens, adult: fetch the official files when no copy is found
    fallback_to_synthetic: bool = True  # movielens, adult: when no copy can be found or fetched
    max_rows: int | None = None  # movielens: the first N ratings in time order
    synthetic_rows: int = 20_000
    seed: int = 0
    train_buckets: int = 4  # hash split of ExampleGen: train:eval = train_buckets:eval_buckets
    eval_buckets: int = 1


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


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    min_auc: float = 0.5  # the blessing threshold: the model is pushed only above it


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
    runner: str = "local"

    @property
    def pipeline_root(self) -> str:
        return str(pathlib.Path(self.output_dir) / "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return str(pathlib.Path(self.output_dir) / "metadata.sqlite")

    @property
    def serving_root(self) -> str:
        return str(pathlib.Path(self.output_dir) / "serving")

    def replace(self, **changes) -> "PipelineConfig":
        return dataclasses.replace(self, **changes)


def load_config(path: str | pathlib.Path, **overrides: Any) -> PipelineConfig:
    """Reads and validates a YAML config; ``overrides`` replace top-level keys."""
    path = pathlib.Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping")
    raw.update(overrides)
    config = _build(PipelineConfig, raw, where=str(path))
    base = path.absolute().parent
    resolved = {"schema": _resolve(base, config.schema), "output_dir": _resolve(base, config.output_dir)}
    if config.data.path is not None:
        resolved["data"] = dataclasses.replace(config.data, path=_resolve(base, config.data.path))
    config = config.replace(**resolved)
    _check_values(config)
    return config


def _resolve(base: pathlib.Path, value: str) -> str:
    # normpath, not resolve(): symbolic links in the user's paths stay as they wrote them.
    return os.path.normpath(base / value) if not pathlib.Path(value).is_absolute() else value


def _check_values(config: PipelineConfig) -> None:
    import zoo

    if config.data.source not in DATA_SOURCES:
        raise ConfigError(f"data.source must be one of {DATA_SOURCES}, got {config.data.source!r}")
    if config.data.source == "csv" and not config.data.path:
        raise ConfigError("data.source 'csv' needs data.path, a directory of CSV files")
    if config.runner not in RUNNERS:
        raise ConfigError(f"runner must be one of {RUNNERS}, got {config.runner!r}")
    zoo.get_card(config.model.name)  # raises with the closest names
    if not pathlib.Path(config.schema).is_file():
        raise ConfigError(f"schema file not found: {config.schema}")


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
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(f"{where} must be {names}, got {value!r}")
