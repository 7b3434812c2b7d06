"""MovieLens latest-small as retrieval: (user, watch history) -> next movie, split by time.

Every rating is an implicit interaction. A global time cutoff (the ``1 - test_fraction`` quantile
of the timestamps) splits them: interactions before it train the model, and each user who
interacts after it is a test query, asked at the cutoff, whose relevant items are the movies
they rated afterwards and had not rated before. Ranking is over every movie of ``movies.csv``
(the full corpus), excluding the movies the user already rated.

Ids are contiguous and leave 0 (missing/padding) and 1 (out of vocabulary) free, as Transform's
vocabularies do: a user with no training interaction is user 1. A history is the user's
``history_len`` most recent movies strictly before the interaction (``SequenceFeature`` sharing
the ``movie_id`` table), right-padded with 0.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np
import pandas as pd

from zoo.features import RESERVED_IDS, CategoricalFeature, FeatureSpec, SequenceFeature

QUERY_FEATURES = ("user_id", "history")
CANDIDATE_FEATURES = ("movie_id", "genres")
GENRES_LEN = 6  # few movies list more genres


@dataclasses.dataclass
class RetrievalSplit:
    spec: FeatureSpec
    train: dict            # feature -> array, one row per training interaction, time-ordered
    corpus: dict           # CANDIDATE_FEATURES, one row per movie
    test_queries: dict     # QUERY_FEATURES at the cutoff, one row per test user
    test_relevant: list    # movie ids each test user rated after the cutoff (not before)
    test_seen: list        # movie ids each test user rated before the cutoff (excluded from ranking)
    train_counts: np.ndarray  # training interactions per movie id (the most-popular baseline)


def _histories(users, movies, timestamps, length):
    """For each row, the user's ``length`` latest movies strictly earlier in time, right-padded."""
    out = np.zeros((len(users), length), np.int64)
    order = np.lexsort((timestamps, users))
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    for group in np.split(order, boundaries):
        times, watched = timestamps[group], movies[group]
        for row, end in zip(group, np.searchsorted(times, times, side="left")):
            recent = watched[max(0, end - length):end]
            out[row, :len(recent)] = recent
    return out


def load(source_dir: str | os.PathLike, *, history_len: int = 20, test_fraction: float = 0.2) -> RetrievalSplit:
    directory = pathlib.Path(source_dir)
    ratings = pd.read_csv(directory / "ratings.csv").sort_values(["timestamp", "userId", "movieId"], kind="stable")
    movies = pd.read_csv(directory / "movies.csv", keep_default_na=False).sort_values("movieId")
    movie_ids = dict(zip(movies["movieId"], np.arange(len(movies)) + RESERVED_IDS))
    genre_lists = [[] if g == "(no genres listed)" else g.split("|") for g in movies["genres"]]
    genre_ids = {g: i + RESERVED_IDS for i, g in enumerate(sorted({g for gs in genre_lists for g in gs}))}
    genres = np.zeros((len(movies), GENRES_LEN), np.int64)
    for row, names in enumerate(genre_lists):
        genres[row, :len(names[:GENRES_LEN])] = [genre_ids[g] for g in names[:GENRES_LEN]]

    cutoff = np.quantile(ratings["timestamp"].to_numpy(), 1.0 - test_fraction)
    is_train = ratings["timestamp"].to_numpy() < cutoff
    raw_users = ratings["userId"].to_numpy()
    user_ids = {u: i + RESERVED_IDS for i, u in enumerate(np.unique(raw_users[is_train]))}
    users = np.array([user_ids.get(u, 1) for u in raw_users], np.int64)
    items = ratings["movieId"].map(movie_ids).to_numpy(np.int64)
    times = ratings["timestamp"].to_numpy()

    train_users, train_items = users[is_train], items[is_train]
    history = _histories(train_users, train_items, times[is_train], history_len)
    train = {"user_id": train_users, "history": history, "movie_id": train_items,
             "genres": genres[train_items - RESERVED_IDS]}

    queries, relevant, seen = {"user_id": [], "history": []}, [], []
    for raw_user in np.unique(raw_users[~is_train]):
        before = train_items[raw_users[is_train] == raw_user]
        after = np.setdiff1d(items[~is_train & (raw_users == raw_user)], before)
        if not len(after):
            continue
        latest = before[-history_len:]
        queries["user_id"].append(user_ids.get(raw_user, 1))
        queries["history"].append(np.pad(latest, (0, history_len - len(latest))))
        relevant.append(after)
        seen.append(np.unique(before))

    num_movies = len(movies) + RESERVED_IDS
    spec = FeatureSpec((
        CategoricalFeature("user_id", len(user_ids) + RESERVED_IDS),
        SequenceFeature("history", num_movies, history_len, shares="movie_id"),
        CategoricalFeature("movie_id", num_movies),
        SequenceFeature("genres", len(genre_ids) + RESERVED_IDS, GENRES_LEN),
    ))
    return RetrievalSplit(
        spec=spec, train=train,
        corpus={"movie_id": np.arange(len(movies), dtype=np.int64) + RESERVED_IDS, "genres": genres},
        test_queries={name: np.asarray(values, np.int64) for name, values in queries.items()},
        test_relevant=relevant, test_seen=seen,
        train_counts=np.bincount(train_items, minlength=num_movies),
    )
