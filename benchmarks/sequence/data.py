"""MovieLens latest-small with leakage-free histories, split by time, as model-ready arrays.

Prepared in numpy the way Transform would: vocabularies fitted on the training part only, id 0
for padding/missing, id 1 for values unseen in training, history movie ids encoded with the
movie vocabulary (the table sharing ``zoo.shares=movie_id`` asks for).

Split: per user, time-ordered: each user's last ``test_fraction`` of interactions (by timestamp)
are the test set, the rest train. Histories are built over the whole log, so a test impression's
history may hold the user's earlier test impressions: they happened before it, so this is the
information a deployed model would have.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pandas as pd

import zoo
from zoo.data.histories import add_histories, load_events

DATA_DIR = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens-latest-small"
CATEGORICAL = ("user_id", "movie_id", "hour", "weekday")
HISTORY = ("hist_movie_ids", "hist_genres", "hist_ratings", "hist_gaps")
GENRES_LEN = 8


@dataclasses.dataclass
class Split:
    train: dict  # feature name -> array
    test: dict
    y_train: np.ndarray
    y_test: np.ndarray
    test_users: np.ndarray
    spec: zoo.FeatureSpec  # every feature, the history included
    baseline_spec: zoo.FeatureSpec  # without the history
    frame: pd.DataFrame  # the raw rows with histories and the split flag


def _vocabulary(values) -> dict:
    return {v: i + 2 for i, v in enumerate(sorted(set(values)))}


def _encode(vocab: dict, values) -> np.ndarray:
    return np.array([vocab.get(v, 1) for v in values], np.int64)


def _encode_lists(vocab: dict, lists, max_len: int) -> np.ndarray:
    out = np.zeros((len(lists), max_len), np.int64)
    for row, values in enumerate(lists):
        values = values[:max_len]
        out[row, :len(values)] = [vocab.get(v, 1) for v in values]
    return out


def time_split(frame: pd.DataFrame, test_fraction: float) -> np.ndarray:
    """True for each user's last ``test_fraction`` of interactions (``frame`` is time-ordered)."""
    rank = frame.groupby("user_id").cumcount().to_numpy()
    size = frame.groupby("user_id")["user_id"].transform("size").to_numpy()
    return rank >= np.ceil(size * (1 - test_fraction))


def load(max_len: int = 50, test_fraction: float = 0.2, source=DATA_DIR) -> Split:
    frame = add_histories(load_events(source), max_len)
    test = time_split(frame, test_fraction)
    frame = frame.assign(is_test=test)
    train_rows = frame[~test]
    genres = frame["genres"].str.split("|").map(lambda g: [t for t in g if t])
    vocabs = {name: _vocabulary(train_rows[name]) for name in CATEGORICAL}
    vocabs["genres"] = _vocabulary(t for g in genres[~test] for t in g)
    vocabs["hist_genres"] = _vocabulary(t for h in train_rows["hist_genres"] for t in h)
    vocabs["hist_ratings"] = {r: r + 1 for r in range(1, 11)}
    vocabs["hist_gaps"] = {g: g + 1 for g in range(64)}
    arrays = {name: _encode(vocabs[name], frame[name]) for name in CATEGORICAL}
    arrays["genres"] = _encode_lists(vocabs["genres"], genres, GENRES_LEN)
    arrays["hist_movie_ids"] = _encode_lists(vocabs["movie_id"], frame["hist_movie_ids"], max_len)
    for name in HISTORY[1:]:
        arrays[name] = _encode_lists(vocabs[name], frame[name], max_len)

    def size(name):
        return len(vocabs[name]) + 2

    base = [zoo.CategoricalFeature(n, size(n)) for n in CATEGORICAL] + [
        zoo.SequenceFeature("genres", size("genres"), GENRES_LEN)]
    history = [zoo.SequenceFeature("hist_movie_ids", size("movie_id"), max_len, shares="movie_id")] + [
        zoo.SequenceFeature(n, size(n), max_len) for n in HISTORY[1:]]
    labels = frame["clicked"].to_numpy(np.float32)
    return Split(
        train={k: v[~test] for k, v in arrays.items()}, test={k: v[test] for k, v in arrays.items()},
        y_train=labels[~test], y_test=labels[test], test_users=frame["user_id"].to_numpy()[test],
        spec=zoo.FeatureSpec(tuple(base + history), "clicked"),
        baseline_spec=zoo.FeatureSpec(tuple(base), "clicked"), frame=frame,
    )
