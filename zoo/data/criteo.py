"""Criteo-shaped synthetic click logs, at any size, in bounded memory.

The Criteo display-advertising logs (the Kaggle challenge's 45M rows, the 1TB set) may not be
redistributed and are larger than a test wants, so the zoo generates look-alikes with their
layout: a 0/1 ``label`` (about 25% positive), 13 integer count features ``i1..i13``
(heavy-tailed, each missing at the real data's rate) and 26 categorical features ``c1..c26``
whose values are 8-hex-digit strings. Each categorical feature draws value ranks from a Zipf-like
law over ``CARDINALITIES[name]`` possible values, after the real columns: a few with about a
million values, most with ten to ten thousand, a couple with only a handful.

Clicks follow a known logistic model of some features (a few low-cardinality categoricals and
the counts), so models have something to learn. Rows are generated in fixed blocks, each from
its own seeded random stream, so the output depends only on ``seed`` and the row index: any
chunk size gives the same rows, and the first N rows of a larger set equal the N-row set.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Iterator

import numpy as np
import pandas as pd

from zoo.data._files import write_frames, write_frames_tfrecord

LABEL = "label"
INT_COLUMNS = tuple(f"i{k}" for k in range(1, 14))
CAT_COLUMNS = tuple(f"c{k}" for k in range(1, 27))
#: Output columns, in the order written to CSV (Criteo's own order).
COLUMNS = (LABEL, *INT_COLUMNS, *CAT_COLUMNS)
#: Their pandas dtypes: counts are nullable integers; missing categorical values are NaN.
DTYPES = {LABEL: "int64", **{c: "Int64" for c in INT_COLUMNS}, **{c: "object" for c in CAT_COLUMNS}}
#: The number of possible values of each categorical feature: the Kaggle set's, with the
#: largest (2 to 10 million) scaled down to a million or less.
CARDINALITIES = dict(zip(CAT_COLUMNS, (
    1460, 583, 1_000_000, 600_000, 305, 24, 12_517, 633, 3, 93_145, 5683, 1_000_000, 3194,
    27, 14_992, 800_000, 10, 5652, 2173, 4, 1_000_000, 18, 15, 286_181, 105, 142_572,
)))  # fmt: skip
DEFAULT_CHUNK_ROWS = 65_536  # tens of megabytes of working memory per chunk

# Per count feature: median, spread of its log, and missing rate (roughly the Kaggle set's).
_COUNT_SHAPES = np.array([
    (1, 1.5, 0.45), (3, 2.0, 0.0), (8, 1.5, 0.21), (5, 1.0, 0.22), (3000, 1.5, 0.026), (30, 1.8, 0.22),
    (3, 1.8, 0.043), (8, 1.0, 0.0005), (40, 1.5, 0.043), (1, 0.8, 0.45), (1, 1.0, 0.043), (0.3, 1.5, 0.77),
    (4, 1.2, 0.22),
])  # fmt: skip
_CAT_MISSING = np.array([  # per categorical feature, roughly the Kaggle set's
    0, 0, 0.034, 0.034, 0, 0.12, 0, 0, 0, 0, 0, 0.034, 0, 0, 0, 0.034, 0, 0, 0.44, 0.44, 0.034, 0.76, 0,
    0.034, 0.44, 0.44,
])  # fmt: skip
_ZIPF_EXPONENT = 1.1
_INFORMATIVE = ("c2", "c6", "c9", "c14", "c17", "c20", "c23")  # categoricals that move the click rate
_POSITIVE_RATE = 0.25
_BLOCK_ROWS = 4096  # rows per random stream; fixed, so results never depend on the chunk size
_PILOT_ROWS = 1 << 13  # rows drawn to set the intercept that gives _POSITIVE_RATE
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_LAST_DIGITS = np.frombuffer(b"abcdef", dtype=np.uint8)
_NIBBLE_SHIFTS = np.arange(24, -1, -4, dtype=np.uint64)  # the 7 hex digits of a 28-bit number


@dataclasses.dataclass(frozen=True)
class _Draw:
    """Raw values of some rows: counts and categorical ranks, with their missing masks."""

    counts: np.ndarray  # int64 [rows, 13]
    counts_missing: np.ndarray  # bool [rows, 13]
    ranks: np.ndarray  # int64 [rows, 26]; 0 is the most frequent value
    ranks_missing: np.ndarray  # bool [rows, 26]

    def __getitem__(self, rows: slice) -> "_Draw":
        return _Draw(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))

    @staticmethod
    def concatenate(parts: list["_Draw"]) -> "_Draw":
        return _Draw(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(_Draw)))


@dataclasses.dataclass(frozen=True)
class _World:
    """What a seed fixes for all rows: how ranks become strings, and the click model."""

    multipliers: np.ndarray  # odd, per categorical: rank -> string is a bijection
    offsets: np.ndarray
    value_effects: dict[int, np.ndarray]  # categorical index -> log-odds effect per rank
    count_weights: np.ndarray
    intercept: float

    def logits(self, draw: _Draw) -> np.ndarray:
        medians, spreads = _COUNT_SHAPES[:, 0], _COUNT_SHAPES[:, 1]
        scaled = (np.log1p(draw.counts) - np.log1p(medians)) / spreads
        logit = np.where(draw.counts_missing, 0.0, scaled) @ self.count_weights
        for column, effects in self.value_effects.items():
            logit += np.where(draw.ranks_missing[:, column], 0.0, effects[draw.ranks[:, column]])
        return logit + self.intercept


def _draw(rng: np.random.Generator, rows: int) -> _Draw:
    medians, spreads, missing = _COUNT_SHAPES.T
    counts = rng.poisson(rng.lognormal(np.log(medians), spreads, (rows, len(INT_COLUMNS))))
    cardinality = np.array(list(CARDINALITIES.values()), dtype=np.float64)
    # Inverse CDF of a power law with density ~ x**-a on [1, K + 1); rank = floor(x) - 1.
    tail = (cardinality + 1) ** (1 - _ZIPF_EXPONENT) - 1
    x = (1 + rng.random((rows, len(CAT_COLUMNS))) * tail) ** (1 / (1 - _ZIPF_EXPONENT))
    ranks = np.minimum(np.floor(x).astype(np.int64) - 1, cardinality.astype(np.int64) - 1)
    return _Draw(
        counts=counts,
        counts_missing=rng.random(counts.shape) < missing,
        ranks=ranks,
        ranks_missing=rng.random(ranks.shape) < _CAT_MISSING,
    )


def _world(seed: int) -> _World:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    columns = list(CAT_COLUMNS)
    world = _World(
        multipliers=rng.integers(0, 1 << 27, len(CAT_COLUMNS), dtype=np.uint64) * 2 + 1,
        offsets=rng.integers(0, 1 << 28, len(CAT_COLUMNS), dtype=np.uint64),
        value_effects={
            columns.index(name): rng.normal(0.0, 0.5, CARDINALITIES[name]) for name in _INFORMATIVE
        },
        count_weights=rng.normal(0.0, 0.3, len(INT_COLUMNS)),
        intercept=0.0,
    )
    # Bisection for the intercept whose mean click probability on a pilot sample is the target.
    pilot = world.logits(_draw(rng, _PILOT_ROWS))
    low, high = -20.0, 20.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if _sigmoid(pilot + middle).mean() < _POSITIVE_RATE else (low, middle)
    return dataclasses.replace(world, intercept=(low + high) / 2)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _block(seed: int, index: int, world: _World) -> tuple[_Draw, np.ndarray]:
    """Rows ``[index * _BLOCK_ROWS, (index + 1) * _BLOCK_ROWS)`` and their labels."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
    draw = _draw(rng, _BLOCK_ROWS)
    labels = (rng.random(_BLOCK_ROWS) < _sigmoid(world.logits(draw))).astype(np.int64)
    return draw, labels


def _hex_strings(ranks: np.ndarray, multiplier: np.uint64, offset: np.uint64) -> np.ndarray:
    """Distinct ranks -> distinct 8-character strings, by an affine bijection of 28-bit numbers.

    Seven hex digits spell the number; the eighth is a letter, so that no value ever looks like
    a number to CSV type inference (a column of digit-only strings would be read as INT).
    """
    h = (ranks.astype(np.uint64) * multiplier + offset) & np.uint64((1 << 28) - 1)
    chars = np.empty((len(ranks), 8), dtype=np.uint8)
    chars[:, :7] = _HEX_DIGITS[(h[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)]
    chars[:, 7] = _LAST_DIGITS[h % np.uint64(len(_LAST_DIGITS))]
    return chars.view("S8").ravel().astype("U8").astype(object)


def _frame(world: _World, draw: _Draw, labels: np.ndarray, start: int) -> pd.DataFrame:
    columns = {LABEL: labels}
    for k, name in enumerate(INT_COLUMNS):
        columns[name] = pd.arrays.IntegerArray(draw.counts[:, k].copy(), draw.counts_missing[:, k].copy())
    for k, name in enumerate(CAT_COLUMNS):
        # One string object per distinct value, shared by its rows: faster, and far smaller.
        distinct, rows = np.unique(draw.ranks[:, k], return_inverse=True)
        strings = _hex_strings(distinct, world.multipliers[k], world.offsets[k])[rows]
        strings[draw.ranks_missing[:, k]] = np.nan
        columns[name] = strings
    return pd.DataFrame(columns, index=pd.RangeIndex(start, start + len(labels))).astype(DTYPES)


def iter_chunks(num_rows: int, *, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of ``synthetic(num_rows, seed=seed)`` as consecutive frames of ``chunk_rows`` rows.

    Memory stays proportional to ``chunk_rows``, whatever ``num_rows`` is. At least one frame is
    yielded, so even zero rows come with their columns and dtypes.
    """
    if num_rows < 0:
        raise ValueError(f"num_rows must be >= 0, got {num_rows}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    world = _world(seed)
    last = (None, None)  # the latest block: chunks that do not align with blocks share one
    for start in range(0, max(num_rows, 1), chunk_rows):
        stop = min(start + chunk_rows, num_rows)
        draws, labels = [], []
        for index in range(start // _BLOCK_ROWS, max(stop - 1, start) // _BLOCK_ROWS + 1):
            if last[0] != index:
                last = (index, _block(seed, index, world))
            draw, block_labels = last[1]
            rows = slice(max(start - index * _BLOCK_ROWS, 0), min(stop - index * _BLOCK_ROWS, _BLOCK_ROWS))
            draws.append(draw[rows])
            labels.append(block_labels[rows])
        yield _frame(world, _Draw.concatenate(draws), np.concatenate(labels), start)


def synthetic(num_rows: int, *, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> pd.DataFrame:
    """A Criteo-shaped frame of ``num_rows`` rows with ``COLUMNS`` and ``DTYPES``, deterministic in ``seed``.

    The frame itself takes about 0.8 GB per million rows; to write millions of rows,
    ``write_synthetic_csv`` streams them instead (about 25 s and 250 MB per million rows).
    """
    return pd.concat(iter_chunks(num_rows, seed=seed, chunk_rows=chunk_rows), ignore_index=True)


def write_csv(frame: pd.DataFrame, out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/data.csv`` in ``COLUMNS`` order; missing values become empty cells."""
    return write_frames([frame], COLUMNS, out_dir)


def write_synthetic_csv(
    out_dir: str | os.PathLike, num_rows: int, *, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> pathlib.Path:
    """Write ``synthetic(num_rows, seed=seed)`` to ``out_dir/data.csv`` chunk by chunk, in bounded memory."""
    return write_frames(iter_chunks(num_rows, seed=seed, chunk_rows=chunk_rows), COLUMNS, out_dir)


def write_synthetic_tfrecord(
    out_dir: str | os.PathLike, num_rows: int, *, seed: int = 0, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> pathlib.Path:
    """Write ``synthetic(num_rows, seed=seed)`` as tf.Examples to ``out_dir/data.tfrecord``, in bounded
    memory: the examples CsvExampleGen makes of ``write_synthetic_csv``'s file, for ImportExampleGen."""
    return write_frames_tfrecord(iter_chunks(num_rows, seed=seed, chunk_rows=chunk_rows), COLUMNS, out_dir)
