"""The benchmark data sets as model inputs, prepared once by the project's own Transform.

Both libraries get the same arrays: rows are read the way CsvExampleGen reads them, the Transform
generated from `schemas/` is fitted on the training split only (`fit_in_memory`, Beam
DirectRunner) and applied to both splits. Prepared arrays are cached under `--cache_dir`.

Splits (fixed, independent of the model seed):
- movielens: MovieLens latest-small as CTR (rating >= 4 is a click), a seeded random 80/20 split
  of the 100,836 ratings (numpy seed 2024).
- adult: UCI Adult's own files, adult.data (32,560 rows) for training and adult.test (16,280) for test.
"""
from __future__ import annotations

import csv
import pathlib
import pickle
import tempfile

import numpy as np

from zoo.data import adult, movielens
from zoo.data.from_schema import csv_row_values, to_example
from zoo.schema import load_schema

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
SPLIT_SEED = 2024


def _frames(name: str):
    if name == "movielens":
        frame = movielens.load_ctr(SHARED / "movielens-latest-small")
        test = np.random.default_rng(SPLIT_SEED).random(len(frame)) < 0.2
        return frame[~test], frame[test], movielens.write_csv, "movielens_ctr.pbtxt"
    if name == "adult":
        directory = SHARED / "uci-adult"
        return adult.load(directory, "train"), adult.load(directory, "test"), adult.write_csv, "adult.pbtxt"
    raise ValueError(f"unknown data set {name!r}")


def _rows(frame, write_csv, schema) -> list[dict]:
    """The frame's rows as typed dicts, through the same CSV file CsvExampleGen would read."""
    with tempfile.TemporaryDirectory() as directory:
        path = write_csv(frame, directory)
        with open(path, newline="") as handle:
            return [csv_row_values(schema, row) for row in csv.DictReader(handle)]


def _transform(transform_output, schema, rows, names, batch=8192) -> dict[str, np.ndarray]:
    from pipelines.transform import raw_serving_spec
    from zoo.backend import tf

    parts = {name: [] for name in names}
    for start in range(0, len(rows), batch):
        serialized = tf.constant([to_example(r).SerializeToString() for r in rows[start:start + batch]])
        raw = tf.io.parse_example(serialized, raw_serving_spec(schema))
        out = transform_output.transform_raw_features(raw, drop_unused_features=True)
        for name in names:
            parts[name].append(out[name].numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


def load(name: str, cache_dir: str | pathlib.Path) -> dict:
    """``{"spec", "train": (inputs, labels), "test": (inputs, labels)}`` for data set ``name``."""
    cache = pathlib.Path(cache_dir) / f"{name}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from pipelines.transform import feature_spec, fit_in_memory

    train_frame, test_frame, write_csv, schema_file = _frames(name)
    schema = load_schema(REPO / "schemas" / schema_file)
    train_rows, test_rows = _rows(train_frame, write_csv, schema), _rows(test_frame, write_csv, schema)
    with tempfile.TemporaryDirectory() as transform_dir:
        transform_output = fit_in_memory(train_rows, schema, transform_dir)
        spec = feature_spec(schema, transform_output)
        splits = {}
        for split, rows in (("train", train_rows), ("test", test_rows)):
            labels = np.array([row[spec.label] for row in rows], dtype=np.float32)
            splits[split] = (_transform(transform_output, schema, rows, spec.names), labels)
    prepared = {"spec": spec.to_config(), **splits}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(prepared))
    return prepared
