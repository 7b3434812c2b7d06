"""Tests for zoo.data: the MovieLens CTR loader, its download cache, and the synthetic twin."""
import csv
import datetime
import pathlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from zoo.data import DatasetUnavailable, load_ctr, locate, synthetic, write_csv
from zoo.data.movielens import CTR_COLUMNS

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "movielens-latest-small"
EXPECTED_DTYPES = {
    "user_id": "int64",
    "movie_id": "int64",
    "genres": "object",
    "release_year": "Int64",
    "hour": "int64",
    "weekday": "int64",
    "timestamp": "int64",
    "clicked": "int64",
}


@pytest.fixture(scope="module")
def shared_dir():
    if not (SHARED / "ratings.csv").is_file():
        pytest.skip(f"shared MovieLens copy not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def real(shared_dir):
    return load_ctr(shared_dir)


@pytest.fixture
def tiny_dir(tmp_path):
    """Hand-written MovieLens files covering the title and genre edge cases."""
    directory = tmp_path / "tiny"
    directory.mkdir()
    (directory / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '11,"American President, The (1995)",Comedy|Drama|Romance\n'
        "20,Trailing Space (1999) ,Horror\n"
        "30,Babylon 5,Sci-Fi\n"
        "40,Death Note: Desu nôto (2006–2007),(no genres listed)\n"
        "50,Blade Runner 2049 (2017),Sci-Fi\n",
        encoding="utf-8",
    )
    (directory / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "2,1,3.5,1000\n"
        "1,11,4.0,964982703\n"
        "1,20,5.0,1000\n"
        "3,30,0.5,1000\n"
        "3,40,4.5,500\n"
        "2,50,3.9,2000\n",
        encoding="utf-8",
    )
    return directory


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("ZOO_MOVIELENS_DIR", raising=False)
    monkeypatch.delenv("ZOO_CACHE_DIR", raising=False)


def _auc(labels, scores):
    """Mann-Whitney AUC with average ranks for ties."""
    labels = np.asarray(labels)
    ranks = pd.Series(scores).rank().to_numpy()
    pos = labels.sum()
    neg = len(labels) - pos
    return (ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg)


# --- load_ctr on hand-written files ------------------------------------------------------


def test_tiny_rows_are_sorted_and_parsed(tiny_dir):
    frame = load_ctr(tiny_dir)
    assert list(frame.columns) == list(CTR_COLUMNS)
    assert frame.dtypes.astype(str).to_dict() == EXPECTED_DTYPES
    assert frame[["timestamp", "user_id", "movie_id"]].values.tolist() == [
        [500, 3, 40],
        [1000, 1, 20],
        [1000, 2, 1],
        [1000, 3, 30],
        [2000, 2, 50],
        [964982703, 1, 11],
    ]
    by_movie = frame.set_index("movie_id")
    years = by_movie["release_year"]
    assert years[1] == 1995 and years[11] == 1995 and years[20] == 1999 and years[40] == 2006
    assert years[50] == 2017  # a year inside the title does not confuse the parser
    assert pd.isna(years[30])
    assert by_movie.at[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert by_movie.at[40, "genres"] == ""
    assert by_movie["clicked"].to_dict() == {40: 1, 20: 1, 1: 0, 30: 0, 50: 0, 11: 1}


def test_hour_and_weekday_are_utc(tiny_dir):
    by_movie = load_ctr(tiny_dir).set_index("movie_id")
    # 964982703 is 2000-07-30 18:45:03 UTC, a Sunday.
    assert (by_movie.at[11, "hour"], by_movie.at[11, "weekday"]) == (18, 6)
    assert (by_movie.at[40, "hour"], by_movie.at[40, "weekday"]) == (0, 3)  # 500 s after 1970-01-01, a Thursday


def test_max_rows_takes_earliest(tiny_dir):
    full = load_ctr(tiny_dir)
    pd.testing.assert_frame_equal(load_ctr(tiny_dir, max_rows=3), full.iloc[:3])
    empty = load_ctr(tiny_dir, max_rows=0)
    assert len(empty) == 0 and empty.dtypes.equals(full.dtypes)
    with pytest.raises(ValueError):
        load_ctr(tiny_dir, max_rows=-1)


def test_write_csv_round_trip(tiny_dir, tmp_path):
    frame = load_ctr(tiny_dir)
    path = write_csv(frame, tmp_path / "out" / "nested")
    assert path == tmp_path / "out" / "nested" / "data.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(CTR_COLUMNS)
    assert lines[1] == "3,40,,2006,0,3,500,1"  # empty genres cell
    assert lines[4] == "3,30,Sci-Fi,,0,3,1000,0"  # empty release_year cell
    back = pd.read_csv(
        path, dtype={"genres": str, "release_year": "Int64"}, keep_default_na=False, na_values={"release_year": [""]}
    )
    pd.testing.assert_frame_equal(back, frame)


# --- load_ctr on the real data -----------------------------------------------------------


def test_real_shape_and_dtypes(real):
    assert len(real) == 100836
    assert list(real.columns) == list(CTR_COLUMNS)
    assert real.dtypes.astype(str).to_dict() == EXPECTED_DTYPES
    assert real["user_id"].nunique() == 610
    assert "rating" not in real.columns


def test_real_labels_match_ratings(real, shared_dir):
    with open(shared_dir / "ratings.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    positives = sum(float(r["rating"]) >= 4.0 for r in rows)
    assert real["clicked"].mean() == pytest.approx(positives / len(rows), abs=1e-12)
    expected = {(int(r["userId"]), int(r["movieId"])): int(float(r["rating"]) >= 4.0) for r in rows}
    got = dict(zip(zip(real["user_id"], real["movie_id"]), real["clicked"]))
    assert got == expected


def test_real_titles_and_genres(real):
    by_movie = real.drop_duplicates("movie_id").set_index("movie_id")
    assert by_movie.at[1, "release_year"] == 1995  # Toy Story (1995)
    assert by_movie.at[11, "release_year"] == 1995  # "American President, The (1995)", quoted
    assert by_movie.at[27008, "release_year"] == 1999  # title ends in a space
    assert pd.isna(by_movie.at[40697, "release_year"])  # "Babylon 5"
    assert by_movie.at[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert by_movie.at[114335, "genres"] == ""  # "(no genres listed)"
    assert 0 < real["release_year"].isna().sum() < 100


def test_real_time_features_and_order(real):
    first = real[(real.user_id == 1) & (real.movie_id == 1)]
    assert first[["timestamp", "hour", "weekday"]].values.tolist() == [[964982703, 18, 6]]
    stamps = pd.to_datetime(real["timestamp"], unit="s", utc=True)
    assert (real["hour"].to_numpy() == stamps.dt.hour.to_numpy()).all()
    assert (real["weekday"].to_numpy() == stamps.dt.weekday.to_numpy()).all()
    keys = real[["timestamp", "user_id", "movie_id"]].to_numpy()
    assert (np.diff(keys[:, 0]) >= 0).all()
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    assert (order == np.arange(len(real))).all()


def test_real_max_rows_is_time_prefix(real, shared_dir):
    head = load_ctr(shared_dir, max_rows=5000)
    pd.testing.assert_frame_equal(head, real.iloc[:5000])
    assert head["user_id"].nunique() > 20


# --- locate ------------------------------------------------------------------------------


def _zip_from_shared(shared_dir, path, *, ratings_lines=500, members=("ratings.csv", "movies.csv")):
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            lines = (shared_dir / name).read_text(encoding="utf-8").splitlines(keepends=True)
            if name == "ratings.csv":
                lines = lines[:ratings_lines]
            zf.writestr(f"ml-latest-small/{name}", "".join(lines))
    return path


def test_locate_explicit_source(tiny_dir, tmp_path, no_env):
    assert locate(tiny_dir, download=False) == tiny_dir
    assert locate(str(tiny_dir)) == tiny_dir
    with pytest.raises(DatasetUnavailable, match="source"):
        locate(tmp_path / "missing")


def test_locate_env_var(tiny_dir, tmp_path, no_env, monkeypatch):
    monkeypatch.setenv("ZOO_MOVIELENS_DIR", str(tiny_dir))
    assert locate(cache_dir=tmp_path / "cache", download=False) == tiny_dir
    monkeypatch.setenv("ZOO_MOVIELENS_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="ZOO_MOVIELENS_DIR"):
        locate(cache_dir=tmp_path / "cache")


def test_locate_downloads_once_then_uses_cache(shared_dir, tmp_path, no_env):
    archive = _zip_from_shared(shared_dir, tmp_path / "ml.zip")
    cache = tmp_path / "cache"
    found = locate(cache_dir=cache, url=archive.as_uri())
    assert found == cache / "ml-latest-small"
    assert sorted(p.name for p in cache.iterdir()) == ["ml-latest-small"]  # no staging left over
    assert sorted(p.name for p in found.iterdir()) == ["movies.csv", "ratings.csv"]
    assert (found / "movies.csv").read_bytes() == (shared_dir / "movies.csv").read_bytes()
    assert len(load_ctr(found)) == 499

    archive.unlink()  # a second download would now fail, so success proves a cache hit
    assert locate(cache_dir=cache, url=archive.as_uri()) == found
    assert locate(cache_dir=cache, download=False) == found


def test_locate_default_cache_dir_from_env(shared_dir, tmp_path, no_env, monkeypatch):
    archive = _zip_from_shared(shared_dir, tmp_path / "ml.zip", ratings_lines=50)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "zoo-cache"))
    assert locate(url=archive.as_uri()) == tmp_path / "zoo-cache" / "ml-latest-small"


@pytest.mark.parametrize("kind", ["not_a_zip", "truncated_zip", "missing_member", "wrong_header"])
def test_locate_rejects_bad_archive(kind, shared_dir, tmp_path, no_env):
    archive = tmp_path / "bad.zip"
    if kind == "not_a_zip":
        archive.write_bytes(b"<html>404 Not Found</html>")
    elif kind == "truncated_zip":
        data = _zip_from_shared(shared_dir, tmp_path / "good.zip").read_bytes()
        archive.write_bytes(data[: len(data) // 2])
    elif kind == "missing_member":
        _zip_from_shared(shared_dir, archive, members=("ratings.csv",))
    else:
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("ratings.csv", "a,b,c\n1,2,3\n")
            zf.writestr("movies.csv", "movieId,title,genres\n")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailable, match="download"):
        locate(cache_dir=cache, url=archive.as_uri())
    assert not (cache / "ml-latest-small").exists()
    assert list(cache.iterdir()) == []


def test_locate_unreachable_url(tmp_path, no_env):
    url = (tmp_path / "nowhere.zip").as_uri()
    with pytest.raises(DatasetUnavailable) as info:
        locate(cache_dir=tmp_path / "cache", url=url, timeout=1)
    message = str(info.value)
    assert url in message and "ZOO_MOVIELENS_DIR" in message and str(tmp_path / "cache") in message


def test_locate_without_download_raises(tmp_path, no_env):
    with pytest.raises(DatasetUnavailable, match="download disabled"):
        locate(cache_dir=tmp_path / "cache", download=False)
    assert not (tmp_path / "cache").exists()


# --- synthetic ---------------------------------------------------------------------------


def test_synthetic_is_deterministic():
    a = synthetic.movielens_ctr(3000, seed=7)
    pd.testing.assert_frame_equal(a, synthetic.movielens_ctr(3000, seed=7))
    b = synthetic.movielens_ctr(3000, seed=8)
    assert not a.equals(b)
    assert not np.array_equal(a["clicked"].to_numpy(), b["clicked"].to_numpy())


def test_synthetic_matches_real_schema(tiny_dir):
    frame = synthetic.movielens_ctr(5000, seed=1, num_users=50, num_movies=80)
    real = load_ctr(tiny_dir)
    assert list(frame.columns) == list(real.columns)
    assert frame.dtypes.equals(real.dtypes)
    assert len(frame) == 5000
    assert frame["user_id"].between(1, 50).all() and frame["movie_id"].nunique() <= 80
    assert 0.2 < frame["clicked"].mean() < 0.8
    assert frame["release_year"].isna().any() and frame["release_year"].dropna().between(1900, 2018).all()
    names = set(frame["genres"].str.split("|").explode()) - {""}
    assert names <= set(synthetic.MOVIELENS_GENRES) and len(names) >= 15
    stamps = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    assert (frame["hour"].to_numpy() == stamps.dt.hour.to_numpy()).all()
    assert (frame["weekday"].to_numpy() == stamps.dt.weekday.to_numpy()).all()
    assert stamps.min().year >= 1995 and stamps.max().year <= 2018
    keys = frame[["timestamp", "user_id", "movie_id"]].to_numpy()
    assert (np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0])) == np.arange(len(frame))).all()


def test_synthetic_any_size():
    assert len(synthetic.movielens_ctr(0)) == 0
    one = synthetic.movielens_ctr(1, num_users=1, num_movies=1)
    assert len(one) == 1 and one.dtypes.astype(str).to_dict() == EXPECTED_DTYPES
    with pytest.raises(ValueError):
        synthetic.movielens_ctr(-1)
    with pytest.raises(ValueError):
        synthetic.movielens_ctr(10, num_movies=0)


def test_synthetic_has_learnable_signal():
    frame = synthetic.movielens_ctr(40000, seed=0)
    train, test = frame.iloc[::2], frame.iloc[1::2]
    prior = train["clicked"].mean()

    def smoothed_logit(column):
        stats = train.groupby(column)["clicked"].agg(["sum", "count"])
        rate = (stats["sum"] + 10 * prior) / (stats["count"] + 10)
        p = test[column].map(rate).fillna(prior).to_numpy()
        return np.log(p / (1 - p))

    score = smoothed_logit("user_id") + smoothed_logit("movie_id")
    assert _auc(test["clicked"].to_numpy(), score) > 0.62
    shuffled = np.random.default_rng(0).permutation(test["clicked"].to_numpy())
    assert abs(_auc(shuffled, score) - 0.5) < 0.03


def test_frames_as_tfrecords_keep_each_columns_type_and_leave_missing_values_empty(tmp_path):
    from zoo.backend import tf
    from zoo.data._files import write_frames_tfrecord

    frames = [pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [0.5, np.nan], "s": ["a", None]}),
              pd.DataFrame({"n": pd.array([3], dtype="Int64"), "x": [2.0], "s": ["é"]})]
    path = write_frames_tfrecord(frames, ["n", "x", "s"], tmp_path)
    rows = [tf.train.Example.FromString(r).features.feature for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]
    assert [list(r["n"].int64_list.value) for r in rows] == [[1], [], [3]]
    assert [list(r["x"].float_list.value) for r in rows] == [[0.5], [], [2.0]]
    assert [[v.decode() for v in r["s"].bytes_list.value] for r in rows] == [["a"], [], ["é"]]
