"""Leakage-free behaviour histories: for each interaction, what the user did strictly before it.

Every MovieLens rating becomes one CTR impression (see ``zoo.data.movielens``) that also carries
the user's previous interactions, oldest first, as aligned variable-length lists:

- ``hist_movie_ids``: the movies rated before (int ids, raw MovieLens ids);
- ``hist_genres``: each of those movies' first listed genre (``"none"`` when it lists none);
- ``hist_ratings``: each rating times two, an int in ``1..10`` (past ratings are known at
  impression time; the current one is the label and never appears);
- ``hist_gaps``: how long before the impression each behaviour happened, as a log-scale bucket
  ``floor(log2(1 + hours))``, which is what temporal models (TIN) need.

"Before" is strict: ratings sharing the impression's timestamp (MovieLens users often rate a
batch in the same second) are left out, so no history holds the target or anything at or after
its time. Only the ``max_len`` most recent behaviours are kept, so Transform's truncation (it
keeps the first ``zoo.max_len`` values) is a no-op when both use the same length.

The same per-user function runs in memory (``add_histories``, numpy) and in Apache Beam
(``BuildHistories``: group by user, sort by time), so a data set of any size is built the same way.
``write_tfrecord`` writes the result as ``tf.Example``s that ImportExampleGen reads, matching
``schemas/movielens_history.pbtxt``.
"""
from __future__ import annotations

import os
import pathlib
from typing import Iterable, Iterator, Mapping

import apache_beam as beam
import numpy as np
import pandas as pd

from zoo.data import movielens, synthetic
from zoo.data._files import write_frames

HISTORY_COLUMNS = ("hist_movie_ids", "hist_genres", "hist_ratings", "hist_gaps")
DEFAULT_MAX_LEN = 50
NO_GENRE = "none"
EVENT_COLUMNS = ("user_id", "movie_id", "genres", "rating", "timestamp")
"""What each interaction must carry to build histories."""


def gap_bucket(seconds: np.ndarray) -> np.ndarray:
    """``floor(log2(1 + hours))``: minutes-old behaviours share bucket 0, a year is bucket 13."""
    return np.floor(np.log2(1.0 + np.asarray(seconds, np.float64) / 3600.0)).astype(np.int64)


def first_genre(genres: str) -> str:
    return genres.split("|", 1)[0] if genres else NO_GENRE


def user_histories(events: Mapping[str, np.ndarray], max_len: int) -> dict[str, list[list]]:
    """Histories of one user's interactions, given as equal-length arrays of ``EVENT_COLUMNS``.

    Returns, for each interaction in the given order, one list per ``HISTORY_COLUMNS`` entry:
    the ``max_len`` most recent interactions with a strictly smaller timestamp, oldest first.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    timestamps = np.asarray(events["timestamp"], np.int64)
    # Sort by time; ties keep their input order but never see each other (the cut is strict).
    order = np.argsort(timestamps, kind="stable")
    sorted_ts = timestamps[order]
    movies = np.asarray(events["movie_id"], np.int64)[order]
    genres = [first_genre(g) for g in np.asarray(events["genres"], object)[order]]
    ratings = np.rint(np.asarray(events["rating"], np.float64)[order] * 2).astype(np.int64)
    ends = np.searchsorted(sorted_ts, timestamps, side="left")  # first sorted index at the row's time
    out = {column: [] for column in HISTORY_COLUMNS}
    for end, now in zip(ends, timestamps):
        start = max(0, end - max_len)
        out["hist_movie_ids"].append(movies[start:end].tolist())
        out["hist_genres"].append(genres[start:end])
        out["hist_ratings"].append(ratings[start:end].tolist())
        out["hist_gaps"].append(gap_bucket(now - sorted_ts[start:end]).tolist())
    return out


def add_histories(frame: pd.DataFrame, max_len: int = DEFAULT_MAX_LEN) -> pd.DataFrame:
    """``frame`` (with ``EVENT_COLUMNS``) plus the ``HISTORY_COLUMNS`` lists, rows in the same order."""
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"add_histories needs columns {missing}")
    columns = {c: [None] * len(frame) for c in HISTORY_COLUMNS}
    for _, index in frame.groupby("user_id", sort=False).indices.items():
        part = frame.iloc[index]
        histories = user_histories({c: part[c].to_numpy() for c in EVENT_COLUMNS}, max_len)
        for column, values in histories.items():
            for row, value in zip(index, values):
                columns[column][row] = value
    return frame.assign(**columns)


def _user_rows(user_and_rows, max_len: int) -> Iterator[dict]:
    _, rows = user_and_rows
    rows = list(rows)
    histories = user_histories({c: np.array([r[c] for r in rows], dtype=object) for c in EVENT_COLUMNS}, max_len)
    for i, row in enumerate(rows):
        yield {**row, **{column: values[i] for column, values in histories.items()}}


class BuildHistories(beam.PTransform):
    """Rows (dicts with ``EVENT_COLUMNS``) -> the same rows plus their ``HISTORY_COLUMNS``.

    Groups by user and builds each user's histories in one worker, so memory is bounded by the
    largest user, not the data set; the output order is Beam's.
    """

    def __init__(self, max_len: int = DEFAULT_MAX_LEN, label: str | None = None):
        super().__init__(label)
        self.max_len = max_len

    def expand(self, rows):
        return (
            rows
            | "KeyByUser" >> beam.Map(lambda row: (row["user_id"], row))
            | "GroupByUser" >> beam.GroupByKey()
            | "Histories" >> beam.FlatMap(_user_rows, self.max_len)
        )


def load_events(source_dir: str | os.PathLike, *, max_rows: int | None = None) -> pd.DataFrame:
    """The MovieLens CTR frame (``movielens.load_ctr``) with each impression's ``rating`` joined back."""
    frame = movielens.load_ctr(source_dir, max_rows=max_rows)
    ratings = pd.read_csv(pathlib.Path(source_dir) / "ratings.csv",
                          usecols=["userId", "movieId", "rating"]).rename(
        columns={"userId": "user_id", "movieId": "movie_id"})
    return frame.merge(ratings, on=["user_id", "movie_id"], how="left", validate="one_to_one")


EVENT_CSV_COLUMNS = movielens.CTR_COLUMNS + ("rating",)
"""The event CSV that the pipeline's HistoryExampleGen reads (``pipelines.history_example_gen``)."""


def write_events_csv(frame: pd.DataFrame, out_dir: str | os.PathLike) -> pathlib.Path:
    """Writes ``out_dir/data.csv`` with ``EVENT_CSV_COLUMNS`` (a frame from ``load_events``)."""
    return write_frames([frame], EVENT_CSV_COLUMNS, out_dir)


def synthetic_events(num_rows: int, *, seed: int = 0) -> pd.DataFrame:
    """``zoo.data.synthetic.movielens_ctr`` with a rating consistent with each click (>= 4 when clicked)."""
    frame = synthetic.movielens_ctr(num_rows, seed=seed)
    rng = np.random.default_rng(seed)
    ratings = np.where(frame["clicked"] == 1, rng.choice([4.0, 4.5, 5.0], len(frame)),
                       rng.choice(np.arange(0.5, 4.0, 0.5), len(frame)))
    return frame.assign(rating=ratings)


HISTORY_DATA_COLUMNS = tuple(c for c in movielens.CTR_COLUMNS if c != "clicked") + HISTORY_COLUMNS + ("clicked",)
"""The columns of the MovieLens-with-history data set (no ``rating``: it is the label's source)."""
_BYTES_COLUMNS = {"genres", "hist_genres"}


def to_example(row: Mapping):
    """One row of the history data set as a ``tf.train.Example`` (absent release year: no feature)."""
    from zoo.backend import tf

    def feature(column: str, values: Iterable) -> "tf.train.Feature":
        # Typed by column, not by value: an empty history must still be a (empty) list of its type.
        if column in _BYTES_COLUMNS:
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))

    features = {}
    for column in HISTORY_DATA_COLUMNS:
        value = row[column]
        if column in HISTORY_COLUMNS:
            features[column] = feature(column, value)
        elif not pd.isna(value):
            features[column] = feature(column, [value])
    return tf.train.Example(features=tf.train.Features(feature=features))


def write_tfrecord(frame: pd.DataFrame, out_dir: str | os.PathLike, file_name: str = "data.tfrecord") -> pathlib.Path:
    """Writes ``frame`` (from ``add_histories``) as ``tf.Example``s, one file ImportExampleGen can read."""
    from zoo.backend import tf

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / file_name
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in frame.to_dict("records"):
            # Deterministic (protobuf may order the features' map differently each run): equal frames give
            # equal files, which ExampleGen's cache (keyed on file mtimes) needs to see no change.
            writer.write(to_example(row).SerializeToString(deterministic=True))
    return path
