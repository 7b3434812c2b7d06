"""The pipeline's input: the directory that ExampleGen reads, prepared from the config.

Real data sets are found (or downloaded) by their loaders and written as CSV; when one cannot
be had and the config allows it, its synthetic twin with the same schema is used instead, with
a message saying so.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

from pipelines.config import FILE_SOURCES, IMAGE_SOURCES, PipelineConfig

Echo = Callable[[str], None]


def echo_line(line: str) -> None:
    print(line, flush=True)  # progress must show up live even when stdout is a pipe or a file


@dataclasses.dataclass(frozen=True)
class PreparedInput:
    csv_dir: str  # what ExampleGen reads: CSV, or the user's tfrecord/parquet files; train/ and eval/ for a time split
    description: str  # what data the run uses, for the user


def prepare_input(config: PipelineConfig, echo: Echo = echo_line) -> PreparedInput:
    """Writes the CSV that ExampleGen reads (or points at the user's CSV directory)."""
    from zoo import data
    from zoo.data import adult, criteo, histories

    source, rows, seed = config.data.source, config.data.synthetic_rows, config.data.seed
    if source in FILE_SOURCES:
        return PreparedInput(config.data.path, f"{source} files in {config.data.path}")
    csv_dir = pathlib.Path(config.output_dir) / "data"
    if source in IMAGE_SOURCES:
        return _prepare_images(config, csv_dir)
    if source == "criteo_synthetic":  # streamed in chunks: it may be millions of rows
        _write_if_changed(lambda out: criteo.write_synthetic_csv(out, rows, seed=seed), csv_dir)
        return PreparedInput(str(csv_dir), _synthetic_description("Criteo", rows, seed))
    if source in ("movielens", "movielens_history"):
        # movielens_history: the rating events; the pipeline's HistoryExampleGen builds the histories.
        events = source == "movielens_history"
        real = _RealData(
            "MovieLens", "ratings.csv", "$ZOO_MOVIELENS_DIR", data.locate,
            lambda found: (histories.load_events if events else data.load_ctr)(found, max_rows=config.data.max_rows),
            "MovieLens latest-small from {source} ({rows:,} ratings)",
            histories.synthetic_events if events else data.synthetic.movielens_ctr,
        )  # fmt: skip
        frame, description = _real_or_synthetic(config, real, echo)
        write = histories.write_events_csv if events else data.write_csv
    elif source == "adult":
        real = _RealData(
            "UCI Adult", "adult.data", "$ZOO_ADULT_DIR", adult.locate,
            lambda found: adult.load(found, "train").head(config.data.max_rows),
            "UCI Adult's train split from {source} ({rows:,} rows)", adult.synthetic,
        )  # fmt: skip
        frame, description = _real_or_synthetic(config, real, echo)
        write = adult.write_csv
    else:
        frame = data.synthetic.movielens_ctr(rows, seed=seed)
        description = _synthetic_description("MovieLens", len(frame), seed)
        write = data.write_csv
    if config.data.split == "time":
        csv_dir = pathlib.Path(config.output_dir) / "data_time_split"
        train, held_out = split_by_time(frame, config.data.time_feature,
                                        config.data.eval_buckets / (config.data.train_buckets + config.data.eval_buckets))
        _write_if_changed(lambda out: write(train, out), csv_dir / "train")
        _write_if_changed(lambda out: write(held_out, out), csv_dir / "eval")
        cut = held_out[config.data.time_feature].min()
        return PreparedInput(str(csv_dir), f"{description}; eval: the {len(held_out):,} rows from "
                                           f"{config.data.time_feature} {cut} on")
    _write_if_changed(lambda out: write(frame, out), csv_dir)
    return PreparedInput(str(csv_dir), description)


def _prepare_images(config: PipelineConfig, out_dir: pathlib.Path) -> PreparedInput:
    """An image or mask folder (the user's; scikit-learn's digits or the ISBI slices written as one) as
    tf.Example TFRecords."""
    import tempfile

    from pipelines import images
    from zoo import schema as schema_lib

    source = config.data.source
    if source == "image_folder":
        names = schema_lib.class_names(schema_lib.schema_features(schema_lib.load_schema(config.schema)))
        classes = images.image_folder_classes(config.data.path, names)
        _write_if_changed(lambda out: images.write_image_records(config.data.path, out, classes), out_dir)
        return PreparedInput(str(out_dir), f"the image folder {config.data.path}, labels 0-{len(classes) - 1}: "
                                           + ", ".join(classes))
    if source == "mask_folder":
        _write_if_changed(lambda out: images.write_mask_records(config.data.path, out), out_dir)
        return PreparedInput(str(out_dir), f"the images and masks of {config.data.path}")
    with tempfile.TemporaryDirectory() as folder:
        if source == "digits":
            _write_if_changed(lambda out: images.write_image_records(images.write_digits_folder(pathlib.Path(folder)),
                                                                     out), out_dir)
            return PreparedInput(str(out_dir), "scikit-learn's handwritten digits (1,797 8x8 images, 10 classes)")
        _write_if_changed(lambda out: images.write_mask_records(
            images.write_isbi_mask_folder(config.data.path, pathlib.Path(folder)), out), out_dir)
        return PreparedInput(str(out_dir), "the ISBI 2012 EM membranes (30 slices, masks on the membranes)")


def split_by_time(frame, time_feature: str, eval_share: float):
    """(train, eval): eval is the latest ``eval_share`` of the rows by ``time_feature``; rows at the cut
    time all go to eval, so no eval row is older than a train row."""
    times = frame[time_feature].sort_values(kind="stable").to_numpy()
    cut = times[min(len(times) - 1, int(len(times) * (1 - eval_share)))]
    return frame[frame[time_feature] < cut], frame[frame[time_feature] >= cut]


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
