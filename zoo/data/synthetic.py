"""Synthetic stand-ins for real data sets, for fast tests and scaling benchmarks.

Frames match the real loaders column for column and dtype for dtype, so everything
downstream (CSV export, TFX pipeline, models) can run on them unchanged, at any size.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from zoo.data.movielens import CTR_COLUMNS, CTR_DTYPES, utc_hour_and_weekday

#: The genre vocabulary of MovieLens, most common first.
MOVIELENS_GENRES = (
    "Drama", "Comedy", "Thriller", "Action", "Romance", "Adventure", "Crime", "Sci-Fi", "Horror", "Fantasy",
    "Children", "Animation", "Mystery", "Documentary", "War", "Musical", "Western", "IMAX", "Film-Noir",
)  # fmt: skip

_FIRST_TIMESTAMP = 946_684_800  # 2000-01-01 UTC
_LAST_TIMESTAMP = 1_537_747_200  # 2018-09-24 UTC, around the end of the real data
_LATENT_DIM = 8
_CHUNK_ROWS = 1 << 20  # bounds memory when gathering per-row factors for large frames


def movielens_ctr(num_rows: int, *, seed: int = 0, num_users: int = 200, num_movies: int = 500) -> pd.DataFrame:
    """A MovieLens-like CTR frame whose clicks follow a known, learnable model.

    Each click is Bernoulli(sigmoid(user bias + movie bias + user·movie latent factors +
    the user's mean affinity for the movie's genres)), so collaborative and genre features
    both carry signal. Users and movies are drawn with skewed popularity, like real logs.
    """
    if num_rows < 0:
        raise ValueError(f"num_rows must be >= 0, got {num_rows}")
    if num_users < 1 or num_movies < 1:
        raise ValueError(f"num_users and num_movies must be >= 1, got {num_users} and {num_movies}")
    rng = np.random.default_rng(seed)

    genre_hot, genre_strings = _movie_genres(rng, num_movies)
    # Sparse ids, as in MovieLens, so models cannot treat the id as a dense index.
    movie_ids = np.sort(rng.choice(np.arange(1, 20 * num_movies + 1), size=num_movies, replace=False))
    years = pd.array(np.clip(2018 - np.rint(rng.exponential(15.0, num_movies)), 1902, 2018), dtype="Int64")
    # About 2% of titles carry no year, as in MovieLens; at least one so the gap is always exercised.
    years[rng.choice(num_movies, size=int(np.ceil(0.02 * num_movies)), replace=False)] = pd.NA

    user_factors = rng.normal(0.0, 1.0 / np.sqrt(_LATENT_DIM), (num_users, _LATENT_DIM))
    movie_factors = rng.normal(0.0, 1.0 / np.sqrt(_LATENT_DIM), (num_movies, _LATENT_DIM))
    genre_taste = rng.normal(0.0, 1.0, (num_users, len(MOVIELENS_GENRES)))
    user_bias = rng.normal(0.0, 0.6, num_users)
    movie_bias = rng.normal(0.0, 0.6, num_movies)

    user_weight = rng.lognormal(0.0, 1.0, num_users)
    movie_weight = 1.0 / rng.permutation(np.arange(1, num_movies + 1)) ** 0.8
    users = rng.choice(num_users, size=num_rows, p=user_weight / user_weight.sum())
    movies = rng.choice(num_movies, size=num_rows, p=movie_weight / movie_weight.sum())
    timestamps = rng.integers(_FIRST_TIMESTAMP, _LAST_TIMESTAMP, size=num_rows, dtype=np.int64)

    genre_share = genre_hot / np.maximum(genre_hot.sum(axis=1, keepdims=True), 1)
    logits = np.empty(num_rows)
    for start in range(0, num_rows, _CHUNK_ROWS):
        u, m = users[start : start + _CHUNK_ROWS], movies[start : start + _CHUNK_ROWS]
        logits[start : start + _CHUNK_ROWS] = (
            user_bias[u]
            + movie_bias[m]
            + 2.0 * np.einsum("ij,ij->i", user_factors[u], movie_factors[m])
            + np.einsum("ij,ij->i", genre_taste[u], genre_share[m])
        )
    clicked = (rng.random(num_rows) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)

    order = np.lexsort((movie_ids[movies], users + 1, timestamps))
    users, movies, timestamps, clicked = users[order], movies[order], timestamps[order], clicked[order]
    hour, weekday = utc_hour_and_weekday(timestamps)
    frame = pd.DataFrame(
        {
            "user_id": users + 1,
            "movie_id": movie_ids[movies],
            "genres": genre_strings[movies],
            "release_year": years[movies],
            "hour": hour,
            "weekday": weekday,
            "timestamp": timestamps,
            "clicked": clicked,
        },
        columns=list(CTR_COLUMNS),
    )
    return frame.astype(CTR_DTYPES)


def _movie_genres(rng: np.random.Generator, num_movies: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot genres per movie and their '|'-joined strings (alphabetical, as MovieLens writes them).

    Common genres are drawn more often, movies have 1-5 genres, and about 1% have none.
    """
    num_genres = len(MOVIELENS_GENRES)
    popularity = 1.0 / np.arange(1, num_genres + 1) ** 0.8
    popularity /= popularity.sum()
    counts = 1 + rng.binomial(4, 0.3, num_movies)
    counts[rng.random(num_movies) < 0.01] = 0
    hot = np.zeros((num_movies, num_genres), dtype=np.int64)
    strings = np.empty(num_movies, dtype=object)
    for movie, count in enumerate(counts):
        picked = rng.choice(num_genres, size=count, replace=False, p=popularity)
        hot[movie, picked] = 1
        strings[movie] = "|".join(sorted(MOVIELENS_GENRES[g] for g in picked))
    return hot, strings
