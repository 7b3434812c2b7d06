"""MovieLens "latest-small" as a click-through-rate (CTR) data set.

Every rating becomes one impression; ``clicked`` is 1 when the rating is at least 4.0, the
usual CTR reformulation. The rating itself is dropped so it cannot leak the label. The frame
is time-ordered, which makes time-based splits and behaviour sequences straightforward.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import zipfile

import numpy as np
import pandas as pd

from zoo.data._files import write_frames
# DatasetUnavailable and default_cache_dir lived here before loaders shared them; still importable from here.
from zoo.data._download import DatasetUnavailable, LocalLayout, default_cache_dir, download_file  # noqa: F401

MOVIELENS_SMALL_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"

#: Output columns, in the order written to CSV.
CTR_COLUMNS = ("user_id", "movie_id", "genres", "release_year", "hour", "weekday", "timestamp", "clicked")
#: Their pandas dtypes; ``release_year`` is nullable because some titles carry no year.
CTR_DTYPES = {
    "user_id": "int64",
    "movie_id": "int64",
    "genres": "object",
    "release_year": "Int64",
    "hour": "int64",
    "weekday": "int64",
    "timestamp": "int64",
    "clicked": "int64",
}
CLICK_THRESHOLD = 4.0
NO_GENRES = "(no genres listed)"

_REQUIRED = {
    "ratings.csv": "userId,movieId,rating,timestamp",
    "movies.csv": "movieId,title,genres",
}
# "(1995)" at the end of a title; a run such as "(2006–2007)" counts from its first year.
_YEAR_RE = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{4})?\)\s*$")
_SECONDS_PER_DAY = 86_400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


_LAYOUT = LocalLayout("MovieLens", tuple(_REQUIRED), "ZOO_MOVIELENS_DIR", "ml-latest-small")


def locate(
    source: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    url: str = MOVIELENS_SMALL_URL,
    timeout: float = 20,
) -> pathlib.Path:
    """Return a directory holding MovieLens ``ratings.csv`` and ``movies.csv``.

    Looks, in order, at ``source``, ``$ZOO_MOVIELENS_DIR``, the cache, and finally downloads
    ``url`` into the cache; raises ``DatasetUnavailable`` naming every place it tried. A location
    the caller configured explicitly (``source`` or the environment variable) must be valid:
    falling back to a download would hide the mistake.
    """
    return _LAYOUT.locate(
        source,
        cache_dir=cache_dir,
        download=download,
        fetch=lambda directory: _fetch_archive(url, directory, timeout),
        origin=url,
        errors=(OSError, ValueError, zipfile.BadZipFile),
    )


def _fetch_archive(url: str, directory: pathlib.Path, timeout: float) -> None:
    archive = directory / "download.zip"
    download_file(url, archive, timeout)
    try:
        _extract(archive, directory)
    finally:
        archive.unlink()


def _extract(archive: pathlib.Path, destination: pathlib.Path) -> None:
    """Copy the required CSVs out of the zip, checking each one's header.

    Members are written under fixed names, so hostile paths inside the archive are ignored.
    """
    if not zipfile.is_zipfile(archive):
        raise zipfile.BadZipFile(f"{archive.name} is not a zip archive")
    with zipfile.ZipFile(archive) as zf:
        by_name = {pathlib.PurePosixPath(m).name: m for m in zf.namelist() if not m.endswith("/")}
        for name, header in _REQUIRED.items():
            if name not in by_name:
                raise zipfile.BadZipFile(f"archive has no {name} (members: {sorted(by_name)})")
            with zf.open(by_name[name]) as src, open(destination / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            with open(destination / name, encoding="utf-8") as written:
                first_line = written.readline().strip().lstrip("\ufeff")
            if first_line != header:
                raise zipfile.BadZipFile(f"{name} starts with {first_line!r}, expected {header!r}")


def utc_hour_and_weekday(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTC hour (0-23) and weekday (Monday = 0) by integer arithmetic, avoiding datetime objects."""
    return (seconds // 3600) % 24, (seconds // _SECONDS_PER_DAY + _EPOCH_WEEKDAY) % 7


def _release_year(titles: pd.Series) -> pd.Series:
    return titles.str.extract(_YEAR_RE, expand=False).astype("Int64")


def load_ctr(source_dir: str | os.PathLike, *, max_rows: int | None = None) -> pd.DataFrame:
    """Build the CTR frame, sorted by (timestamp, user_id, movie_id).

    ``max_rows`` keeps the earliest ratings, a deterministic time slice that (unlike taking
    the first users) still spans many users.
    """
    if max_rows is not None and max_rows < 0:
        raise ValueError(f"max_rows must be >= 0, got {max_rows}")
    directory = pathlib.Path(source_dir)
    ratings = pd.read_csv(
        directory / "ratings.csv",
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    )
    movies = pd.read_csv(
        directory / "movies.csv", dtype={"movieId": "int64", "title": str, "genres": str}, keep_default_na=False
    )

    ratings = ratings.sort_values(["timestamp", "userId", "movieId"], kind="stable", ignore_index=True)
    if max_rows is not None:
        ratings = ratings.iloc[:max_rows]

    movies = pd.DataFrame(
        {
            "movieId": movies["movieId"],
            "genres": movies["genres"].replace(NO_GENRES, ""),
            "release_year": _release_year(movies["title"]),
        }
    )
    joined = ratings.merge(movies, on="movieId", how="left", validate="many_to_one")

    seconds = joined["timestamp"].to_numpy()
    hour, weekday = utc_hour_and_weekday(seconds)
    frame = pd.DataFrame(
        {
            "user_id": joined["userId"],
            "movie_id": joined["movieId"],
            "genres": joined["genres"].fillna(""),
            "release_year": joined["release_year"],
            "hour": hour,
            "weekday": weekday,
            "timestamp": seconds,
            "clicked": (joined["rating"].to_numpy() >= CLICK_THRESHOLD).astype(np.int64),
        }
    )
    return frame.astype(CTR_DTYPES)


def write_csv(frame: pd.DataFrame, out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/data.csv`` in the column order CsvExampleGen expects.

    Missing release years become empty cells, which CsvExampleGen reads as absent values.
    """
    return write_frames([frame], CTR_COLUMNS, out_dir)
