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
import tempfile
import urllib.request
import zipfile

import numpy as np
import pandas as pd

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
_CACHE_SUBDIR = "ml-latest-small"
# "(1995)" at the end of a title; a run such as "(2006–2007)" counts from its first year.
_YEAR_RE = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{4})?\)\s*$")
_SECONDS_PER_DAY = 86_400
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class DatasetUnavailable(RuntimeError):
    """The data set could not be found locally nor downloaded."""


def default_cache_dir() -> pathlib.Path:
    """``$ZOO_CACHE_DIR``, else ``~/.cache/zoo``; read on each call so tests can redirect it."""
    configured = os.environ.get("ZOO_CACHE_DIR")
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".cache" / "zoo"


def _has_files(directory: pathlib.Path) -> bool:
    return all((directory / name).is_file() for name in _REQUIRED)


def _missing_message(directory: pathlib.Path, origin: str) -> str:
    return f"{origin} {directory} does not hold {' and '.join(_REQUIRED)}"


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
    ``url`` into the cache. A location the caller configured explicitly (``source`` or the
    environment variable) must be valid: falling back to a download would hide the mistake.
    """
    if source is not None:
        directory = pathlib.Path(source).expanduser()
        if not _has_files(directory):
            raise DatasetUnavailable(_missing_message(directory, "source"))
        return directory

    from_env = os.environ.get("ZOO_MOVIELENS_DIR")
    if from_env:
        directory = pathlib.Path(from_env).expanduser()
        if not _has_files(directory):
            raise DatasetUnavailable(_missing_message(directory, "$ZOO_MOVIELENS_DIR ="))
        return directory

    cache_root = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cached = cache_root / _CACHE_SUBDIR
    if _has_files(cached):
        return cached

    tried = ["source: not given", "$ZOO_MOVIELENS_DIR: not set", f"cache: {cached} (not present)"]
    if not download:
        raise DatasetUnavailable("MovieLens not found; download disabled. Tried " + "; ".join(tried))
    try:
        return _download(url, cached, timeout)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        tried.append(f"download {url}: {err}")
        raise DatasetUnavailable("MovieLens unavailable. Tried " + "; ".join(tried)) from err


def _download(url: str, target: pathlib.Path, timeout: float) -> pathlib.Path:
    """Fetch and unpack into a private temporary directory, then rename it into place.

    The rename is the only step visible to other readers, so an interrupted or failed
    download never leaves a partial cache behind.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        archive = staging / "download.zip"
        with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
            shutil.copyfileobj(response, out)
        unpacked = staging / target.name
        unpacked.mkdir()
        _extract(archive, unpacked)
        try:
            unpacked.rename(target)
        except OSError:
            if not _has_files(target):  # anything but a concurrent download that finished first
                raise
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "data.csv"
    frame.loc[:, list(CTR_COLUMNS)].to_csv(path, index=False, na_rep="")
    return path
