"""Seeded synthetic rows for any TFMD schema, with a label that depends on the features.

Used by the model contract test and by scale benchmarks that need data of an arbitrary shape.
Rows are dicts of plain Python values: a scalar for a feature the schema says is always one
value, a list otherwise (both are what ``tf.train.Example`` and TFT's instance format take).
"""
from __future__ import annotations

import zlib

import numpy as np

from zoo import schema as schema_lib

_POOL = 30  # distinct values drawn for each categorical feature


def synthetic_rows(schema, num_rows: int, *, seed: int = 0, missing_rate: float = 0.1) -> list[dict]:
    """``num_rows`` rows drawn for ``schema``; optional features are absent at ``missing_rate``."""
    rng = np.random.default_rng(seed)
    features = schema_lib.schema_features(schema)
    fixed = {f.name for f in schema.feature if f.value_count.min == f.value_count.max == 1 and f.presence.min_fraction >= 1}
    ranges = {f.name: (f.int_domain.min, f.int_domain.max) for f in schema.feature if f.HasField("int_domain")}
    rows = []
    for _ in range(num_rows):
        row, score = {}, 0.0
        for f in features:
            if f.kind == schema_lib.LABEL or (not f.required and rng.random() < missing_rate):
                continue
            values = _values(f, rng, ranges.get(f.name))
            score += sum(_effect(f.name, v) for v in values) / len(values)
            row[f.name] = values[0] if f.name in fixed else values
        label = next((f for f in features if f.kind == schema_lib.LABEL), None)
        if label is not None:
            clicked = int(rng.random() < 1.0 / (1.0 + np.exp(-score)))
            row[label.name] = clicked if label.name in fixed else [clicked]
        rows.append(row)
    return rows


def _values(feature: schema_lib.SchemaFeature, rng, int_range) -> list:
    low, high = int_range if int_range else (0, _POOL)
    if feature.kind == schema_lib.NUMERIC:
        return [float(rng.normal(50.0, 10.0))] if feature.dtype == "float" else [int(rng.integers(low, high + 1))]
    count = int(rng.integers(1, (feature.max_len or 1) + 2)) if feature.kind == schema_lib.SEQUENCE else 1
    if feature.dtype == "bytes":
        tokens = [f"{feature.name}_{rng.integers(_POOL)}" for _ in range(count)]
        return ["|".join(tokens)] if feature.delimiter else tokens
    return [int(v) for v in rng.integers(low, min(high, low + _POOL) + 1, size=count)]


def _effect(name: str, value) -> float:
    """A fixed pseudo-random effect of one feature value on the label's log-odds."""
    if isinstance(value, float):
        return (value - 50.0) / 20.0
    return (zlib.crc32(f"{name}={value}".encode()) % 1000) / 250.0 - 2.0


def to_example(row: dict):
    """A ``tf.train.Example`` holding ``row``'s values (scalars or lists of str/bytes/int/float; bytes,
    e.g. an encoded image, as they are)."""
    from zoo.backend import tf

    feature = {}
    for name, value in row.items():
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, (str, bytes)) for v in values) and values:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[v.encode() if isinstance(v, str) else v for v in values]))
        elif all(isinstance(v, int) for v in values):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def to_record(row: dict) -> bytes:
    """``to_example(row)`` serialized deterministically, for a TFRecord file that ExampleGen reads.

    Protobuf may serialize a map (the Example's features) in any order; a file written again from equal
    rows would then differ, get a new mtime, and miss ExampleGen's cache, whose key includes mtimes.
    """
    return to_example(row).SerializeToString(deterministic=True)


def csv_row_values(schema, row: dict[str, str]) -> dict:
    """Typed values of a CSV row (as ``csv.DictReader`` gives it), per the schema; empty cells are dropped."""
    casts = {f.name: {"int": int, "float": float, "bytes": str}[f.dtype] for f in schema_lib.schema_features(schema)}
    return {name: casts[name](text) for name, text in row.items() if name in casts and text != ""}
