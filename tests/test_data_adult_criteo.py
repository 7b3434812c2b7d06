"""Tests for zoo.data.adult (UCI Adult loader, download cache, synthetic twin) and zoo.data.criteo
(Criteo-shaped synthetic logs), their schemas, the adult config and prepare_input's new sources.

Expected values on the real data are counted here from the raw file with the csv module, not
through pandas, so a parsing mistake in the loader cannot agree with itself.
"""
from __future__ import annotations

import csv
import pathlib
import re
import shutil
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from zoo import schema as schema_lib
from zoo.data import DatasetUnavailable, adult, criteo

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "uci-adult"
ADULT_SCHEMA = REPO / "schemas" / "adult.pbtxt"
CRITEO_SCHEMA = REPO / "schemas" / "criteo_synthetic.pbtxt"
ADULT_CATEGORICAL = {
    "workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country",
}  # fmt: skip
ADULT_OPTIONAL = {"workclass", "occupation", "native_country"}  # "?" in the census file


@pytest.fixture(scope="module")
def shared_dir():
    if not (SHARED / "adult.data").is_file():
        pytest.skip(f"shared UCI Adult copy not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def raw_rows(shared_dir):
    """Each split's rows as lists of stripped fields, read with the csv module."""

    def read(name):
        with open(shared_dir / name, newline="", encoding="utf-8") as handle:
            return [[f.strip() for f in row] for row in csv.reader(handle) if row and not row[0].startswith("|")]

    return {split: read(name) for split, name in adult.SPLIT_FILES.items()}


@pytest.fixture(scope="module")
def train(shared_dir):
    return adult.load(shared_dir, "train")


@pytest.fixture(scope="module")
def test_split(shared_dir):
    return adult.load(shared_dir, "test")


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("ZOO_ADULT_DIR", raising=False)
    monkeypatch.delenv("ZOO_CACHE_DIR", raising=False)


def _assert_frame_fits_schema(frame, schema_path):
    """What ExampleValidator checks, on a frame: the same columns, required ones never missing,
    BYTES columns strings, INT columns integers inside their int_domain. A column with missing
    values must also allow zero values: CsvExampleGen writes an empty cell as an empty feature."""
    schema = schema_lib.load_schema(schema_path)
    features = {f.name: f for f in schema_lib.schema_features(schema)}
    value_counts = {f.name: f.value_count for f in schema.feature}
    assert set(frame.columns) == set(features)
    for name, feature in features.items():
        present = frame[name].dropna()
        assert value_counts[name].max == 1, name  # one value per cell
        if len(present) < len(frame):
            assert not feature.required and value_counts[name].min == 0, name
        if feature.dtype == "bytes":
            assert present.map(type).eq(str).all(), name
        else:
            assert feature.dtype == "int" and pd.api.types.is_integer_dtype(frame[name]), name
    for proto in schema.feature:
        domain, values = proto.int_domain, frame[proto.name].dropna()
        assert not domain.HasField("min") or values.min() >= domain.min, proto.name
        assert not domain.HasField("max") or values.max() <= domain.max, proto.name


def _assert_same_frame(a, b):
    """Equal columns, index, dtypes and values (NaN equal to NaN); much faster than
    pd.testing.assert_frame_equal on object columns."""
    assert list(a.columns) == list(b.columns) and a.index.equals(b.index) and a.dtypes.equals(b.dtypes)
    assert a.equals(b)


def _positive_rate(frame, mask):
    return frame.loc[mask, adult.LABEL].mean()


# --- adult.load on the real data ---------------------------------------------------------


def test_real_row_counts_match_the_files(train, test_split, raw_rows):
    # The shared README says 32,560 / 16,280: `wc -l`, which misses the last line (no final newline).
    assert len(train) == len(raw_rows["train"]) == 32_561
    assert len(test_split) == len(raw_rows["test"]) == 16_281
    assert list(train.columns) == list(adult.COLUMNS) == list(test_split.columns)
    assert train.dtypes.astype(str).to_dict() == adult.DTYPES == test_split.dtypes.astype(str).to_dict()
    assert "income" not in train.columns and "education_num" in train.columns and "hours_per_week" in train.columns


def test_real_labels_match_independent_counts(train, test_split, raw_rows):
    for frame, rows, suffix in ((train, raw_rows["train"], ""), (test_split, raw_rows["test"], ".")):
        incomes = [row[-1] for row in rows]
        assert set(incomes) == {"<=50K" + suffix, ">50K" + suffix}  # test labels end with "."
        assert frame[adult.LABEL].tolist() == [int(i == ">50K" + suffix) for i in incomes]
        assert frame[adult.SECOND_LABEL].tolist() == [int(row[5] == "Never-married") for row in rows]
    assert train[adult.LABEL].sum() == 7841 and 0.23 < train[adult.LABEL].mean() < 0.25  # ~24% earn >50K
    assert 0.32 < train[adult.SECOND_LABEL].mean() < 0.34


def test_real_question_marks_become_missing(train, raw_rows):
    columns = [c.replace("-", "_") for c in adult.RAW_COLUMNS]
    expected = {c: sum(row[k] == "?" for row in raw_rows["train"]) for k, c in enumerate(columns)}
    assert {c: n for c, n in expected.items() if n} == {"workclass": 1836, "occupation": 1843, "native_country": 583}
    assert train.isna().sum().to_dict() == {c: expected.get(c, 0) for c in adult.COLUMNS}
    strings = train[sorted(ADULT_CATEGORICAL)].stack()
    assert not strings.isin(["?", ""]).any() and (strings == strings.str.strip()).all()
    first = train.iloc[0]  # 39, State-gov, 77516, Bachelors, 13, Never-married, ...
    assert (first["age"], first["workclass"], first["fnlwgt"], first["education_num"]) == (39, "State-gov", 77516, 13)
    assert (first["capital_gain"], first["native_country"], first[adult.SECOND_LABEL]) == (2174, "United-States", 1)


def test_real_data_fits_the_schema(train, test_split):
    _assert_frame_fits_schema(train, ADULT_SCHEMA)
    _assert_frame_fits_schema(test_split, ADULT_SCHEMA)


def test_official_test_file_layout(raw_rows, test_split, tmp_path):
    """UCI's adult.test opens with a '|1x3 Cross validator' line and ends with a blank line."""
    (tmp_path / "adult.test").write_text(
        "|1x3 Cross validator\n" + "\n".join(", ".join(row) for row in raw_rows["test"]) + "\n\n", encoding="utf-8"
    )
    _assert_same_frame(adult.load(tmp_path, "test"), test_split)


def test_load_rejects_unknown_splits_and_labels(tmp_path):
    with pytest.raises(ValueError, match="split"):
        adult.load(tmp_path, "validation")
    (tmp_path / "adult.data").write_text("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, "
                                         "Not-in-family, White, Male, 2174, 0, 40, United-States, 50K\n")
    with pytest.raises(ValueError, match="unknown income labels"):
        adult.load(tmp_path, "train")


def test_write_csv_round_trip(train, tmp_path):
    path = adult.write_csv(train, tmp_path / "out")
    assert path == tmp_path / "out" / "data.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(adult.COLUMNS) and len(lines) == len(train) + 1
    missing_workclass = train.index[train["workclass"].isna()][0]
    assert lines[missing_workclass + 1].split(",")[1] == ""  # an empty cell, read as absent
    back = pd.read_csv(path, dtype={c: str for c in ADULT_CATEGORICAL}, keep_default_na=False, na_values=[""])
    _assert_same_frame(back.astype(adult.DTYPES), train)


# --- adult.locate ------------------------------------------------------------------------


def _mirror(shared_dir, directory, lines=200):
    """A small copy of both files, served through file:// URLs in place of the UCI archive."""
    directory.mkdir()
    for name in adult.SPLIT_FILES.values():
        head = (shared_dir / name).read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
        (directory / name).write_text("".join(head), encoding="utf-8")
    return directory.as_uri() + "/"


def test_adult_urls_name_the_uci_files():
    assert sorted(adult.ADULT_URLS) == ["adult.data", "adult.test"]
    for name, url in adult.ADULT_URLS.items():
        assert url.startswith("https://archive.ics.uci.edu/") and url.endswith("/adult/" + name)


def test_locate_explicit_source_and_env_var(shared_dir, tmp_path, no_env, monkeypatch):
    assert adult.locate(shared_dir, download=False) == shared_dir
    with pytest.raises(DatasetUnavailable, match="source .* does not hold adult.data and adult.test"):
        adult.locate(tmp_path)
    monkeypatch.setenv("ZOO_ADULT_DIR", str(shared_dir))
    assert adult.locate(cache_dir=tmp_path / "cache", download=False) == shared_dir
    monkeypatch.setenv("ZOO_ADULT_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="ZOO_ADULT_DIR"):
        adult.locate(cache_dir=tmp_path / "cache")


def test_locate_downloads_once_then_uses_cache(shared_dir, tmp_path, no_env):
    base_url = _mirror(shared_dir, tmp_path / "mirror")
    cache = tmp_path / "cache"
    found = adult.locate(cache_dir=cache, base_url=base_url)
    assert found == cache / "uci-adult"
    assert sorted(p.name for p in cache.iterdir()) == ["uci-adult"]  # no staging left over
    assert sorted(p.name for p in found.iterdir()) == ["adult.data", "adult.test"]
    assert len(adult.load(found, "train")) == 200 and len(adult.load(found, "test")) == 200

    shutil.rmtree(tmp_path / "mirror")  # a second download would now fail, so success proves a cache hit
    assert adult.locate(cache_dir=cache, base_url=base_url) == found
    assert adult.locate(cache_dir=cache, download=False) == found


def test_locate_default_cache_dir_from_env(shared_dir, tmp_path, no_env, monkeypatch):
    base_url = _mirror(shared_dir, tmp_path / "mirror", lines=5)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "zoo-cache"))
    assert adult.locate(base_url=base_url.rstrip("/")) == tmp_path / "zoo-cache" / "uci-adult"  # with or without "/"


@pytest.mark.parametrize("kind", ["html_page", "missing_test_file", "wrong_columns"])
def test_locate_rejects_bad_downloads(kind, shared_dir, tmp_path, no_env):
    mirror = tmp_path / "mirror"
    base_url = _mirror(shared_dir, mirror)
    if kind == "html_page":
        (mirror / "adult.data").write_text("<html><body>404 Not Found</body></html>\n")
    elif kind == "missing_test_file":
        (mirror / "adult.test").unlink()
    else:
        (mirror / "adult.test").write_text("39, State-gov, 77516, Bachelors, <=50K\n")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailable, match="UCI Adult unavailable.*download"):
        adult.locate(cache_dir=cache, base_url=base_url)
    assert list(cache.iterdir()) == []  # neither a partial cache nor a staging directory


def test_locate_unreachable_and_disabled(tmp_path, no_env):
    base_url = (tmp_path / "nowhere").as_uri() + "/"
    with pytest.raises(DatasetUnavailable) as info:
        adult.locate(cache_dir=tmp_path / "cache", base_url=base_url, timeout=1)
    assert base_url in str(info.value) and "ZOO_ADULT_DIR" in str(info.value)
    with pytest.raises(DatasetUnavailable, match="download disabled"):
        adult.locate(cache_dir=tmp_path / "other", download=False)
    assert not (tmp_path / "other").exists()


# --- adult.synthetic ---------------------------------------------------------------------


def test_adult_synthetic_is_deterministic():
    a = adult.synthetic(2000, seed=5)
    _assert_same_frame(a, adult.synthetic(2000, seed=5))
    assert not a.equals(adult.synthetic(2000, seed=6))
    assert len(adult.synthetic(0)) == 0
    with pytest.raises(ValueError):
        adult.synthetic(-1)


def test_adult_synthetic_matches_the_real_loader(train):
    frame = adult.synthetic(20_000, seed=1)
    assert list(frame.columns) == list(train.columns) and frame.dtypes.equals(train.dtypes)
    _assert_frame_fits_schema(frame, ADULT_SCHEMA)
    assert {c for c in frame.columns if frame[c].isna().any()} == ADULT_OPTIONAL
    assert (frame["occupation"].isna() >= frame["workclass"].isna()).all()  # as in the census
    education = train.drop_duplicates("education").set_index("education")["education_num"]
    assert (frame["education_num"] == frame["education"].map(education)).all()  # the real mapping
    for column in ADULT_CATEGORICAL:
        assert set(frame[column].dropna()) <= set(train[column].dropna()), column
    assert (frame[adult.SECOND_LABEL] == (frame["marital_status"] == "Never-married")).all()
    assert 0.18 < frame[adult.LABEL].mean() < 0.30 and 0.28 < frame[adult.SECOND_LABEL].mean() < 0.38


def test_adult_synthetic_keeps_the_real_signals(train):
    """The income drivers point the same way, and as strongly, in the real and the synthetic data."""
    for frame in (train, adult.synthetic(20_000, seed=2)):
        married = frame["marital_status"] == "Married-civ-spouse"
        assert _positive_rate(frame, married) > 4 * _positive_rate(frame, frame[adult.SECOND_LABEL] == 1)
        years = frame["education_num"]
        assert _positive_rate(frame, years >= 13) > 2 * _positive_rate(frame, years <= 9)
        assert _positive_rate(frame, frame["age"] <= 25) < 0.1 < _positive_rate(frame, frame["age"].between(40, 55))


# --- criteo ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logs():
    return criteo.synthetic(40_000, seed=0)


def test_criteo_columns_and_dtypes(logs):
    assert logs.shape == (40_000, 40)
    assert list(logs.columns) == ["label", *(f"i{k}" for k in range(1, 14)), *(f"c{k}" for k in range(1, 27))]
    assert logs.dtypes.astype(str).to_dict() == criteo.DTYPES
    assert set(logs["label"]) == {0, 1} and 0.22 < logs["label"].mean() < 0.28
    assert (logs.index == np.arange(len(logs))).all()


def test_criteo_counts_are_heavy_tailed_and_sometimes_missing(logs):
    counts = logs[list(criteo.INT_COLUMNS)]
    missing = counts.isna().mean()
    assert missing["i2"] == 0 and 0.40 < missing["i1"] < 0.50 and 0.72 < missing["i12"] < 0.82
    values = counts.stack().astype(np.int64)
    assert values.min() >= 0 and (values == 0).mean() > 0.05
    for column in ("i3", "i5", "i6", "i9"):
        present = counts[column].dropna().astype(float)
        assert present.max() > 20 * present.median() > 0, column  # a long right tail


def test_criteo_categoricals_are_hex_strings_with_skewed_cardinalities(logs):
    pattern = re.compile(r"^[0-9a-f]{7}[a-f]$")  # ends in a letter: never read as a number from CSV
    for column in criteo.CAT_COLUMNS:
        values = logs[column].dropna()
        assert values.map(lambda v: bool(pattern.match(v))).all(), column
        assert values.nunique() <= criteo.CARDINALITIES[column], column
    cardinality = criteo.CARDINALITIES
    assert sum(k >= 500_000 for k in cardinality.values()) >= 4
    assert sum(10 <= k <= 10_000 for k in cardinality.values()) >= 13
    share = {c: logs[c].value_counts(normalize=True).iloc[0] for c in criteo.CAT_COLUMNS}
    assert share["c9"] > 0.4  # 3 values, one dominant
    assert 0.02 < share["c3"] < 0.2 and logs["c3"].nunique() > 5000  # a million values: spread out
    counts = logs["c1"].value_counts()
    assert counts.iloc[0] > 20 * counts.median()  # Zipf-like: a few values take most rows
    missing = logs[list(criteo.CAT_COLUMNS)].isna().mean()
    assert missing["c1"] == 0 and 0.70 < missing["c22"] < 0.82 and 0.38 < missing["c19"] < 0.50


def test_criteo_is_deterministic_and_prefix_stable(logs):
    _assert_same_frame(criteo.synthetic(40_000, seed=0), logs)
    other = criteo.synthetic(5000, seed=1)
    assert not other["c1"].equals(logs["c1"].iloc[:5000])
    _assert_same_frame(criteo.synthetic(5000, seed=0), logs.iloc[:5000])
    empty = criteo.synthetic(0)
    assert len(empty) == 0 and empty.dtypes.astype(str).to_dict() == criteo.DTYPES
    with pytest.raises(ValueError):
        criteo.synthetic(-1)
    with pytest.raises(ValueError):
        criteo.synthetic(10, chunk_rows=0)


@pytest.mark.parametrize("chunk_rows", [999, 4096, 7000])
def test_criteo_chunking_does_not_change_rows(chunk_rows, logs):
    chunks = list(criteo.iter_chunks(20_000, seed=0, chunk_rows=chunk_rows))
    assert [len(c) for c in chunks[:-1]] == [chunk_rows] * (len(chunks) - 1) and 0 < len(chunks[-1]) <= chunk_rows
    _assert_same_frame(pd.concat(chunks), logs.iloc[:20_000])


def test_criteo_streamed_csv_equals_one_shot_csv(tmp_path):
    streamed = criteo.write_synthetic_csv(tmp_path / "streamed", 9000, seed=3, chunk_rows=2500)
    one_shot = criteo.write_csv(criteo.synthetic(9000, seed=3), tmp_path / "one_shot")
    assert streamed.read_bytes() == one_shot.read_bytes()
    lines = streamed.read_text().splitlines()
    assert lines[0] == ",".join(criteo.COLUMNS) and len(lines) == 9001
    assert ",," in "".join(lines[1:50])  # missing values are empty cells


def test_criteo_tfrecord_holds_the_rows_as_csv_example_gen_would(tmp_path, logs):
    """Each row becomes one tf.Example with every column: counts as int64, categoricals as bytes, and a
    missing value as a feature with no values (what CsvExampleGen makes of an empty cell)."""
    from zoo.backend import tf

    path = criteo.write_synthetic_tfrecord(tmp_path, 3000, seed=0, chunk_rows=1000)
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert len(records) == 3000
    missing = 0
    for row, record in zip(logs.iloc[:3000].itertuples(index=False), records):
        features = tf.train.Example.FromString(record).features.feature
        assert sorted(features) == sorted(criteo.COLUMNS)
        for name, value in zip(criteo.COLUMNS, row):
            expected = [] if pd.isna(value) else [value]
            if name in criteo.CAT_COLUMNS:
                assert [v.decode() for v in features[name].bytes_list.value] == expected, name
            else:
                assert list(features[name].int64_list.value) == [int(v) for v in expected], name
            missing += not expected
    assert missing > 3000  # missing values were exercised


def test_criteo_streaming_memory_is_bounded_by_the_chunk(tmp_path):
    def peak_bytes(function):
        tracemalloc.start()
        try:
            function()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = peak_bytes(lambda: criteo.write_synthetic_csv(tmp_path / "a", 2_000, chunk_rows=500))
    large = peak_bytes(lambda: criteo.write_synthetic_csv(tmp_path / "b", 16_000, chunk_rows=500))
    whole = peak_bytes(lambda: criteo.synthetic(16_000))
    assert large < 1.5 * small  # 8x the rows, about the same memory
    assert large < whole / 4


def test_criteo_clicks_are_learnable_from_the_informative_features(logs):
    train, held_out = logs.iloc[::2], logs.iloc[1::2]
    prior = train["label"].mean()

    def encoded(column):
        stats = train.groupby(column)["label"].agg(["sum", "count"])
        rate = (stats["sum"] + 20 * prior) / (stats["count"] + 20)
        p = held_out[column].map(rate).fillna(prior).to_numpy()
        return np.log(p / (1 - p))

    labels = held_out["label"].to_numpy()
    score = sum(encoded(c) for c in ("c2", "c6", "c9", "c14", "c17", "c20", "c23"))
    assert np.corrcoef(score, labels)[0, 1] > 0.25
    assert abs(np.corrcoef(encoded("c1"), labels)[0, 1]) < 0.05  # c1 carries no signal


# --- schemas -----------------------------------------------------------------------------


def test_adult_schema_kinds():
    features = {f.name: f for f in schema_lib.schema_features(schema_lib.load_schema(ADULT_SCHEMA))}
    assert list(features) == list(adult.COLUMNS)
    kinds = {name: f.kind for name, f in features.items()}
    assert {n for n, k in kinds.items() if k == schema_lib.CATEGORICAL} == ADULT_CATEGORICAL
    assert {n for n, k in kinds.items() if k == schema_lib.NUMERIC} == set(adult.NUMERIC)
    assert kinds[adult.LABEL] == schema_lib.LABEL and schema_lib.label_name(features.values()) == adult.LABEL
    assert kinds[adult.SECOND_LABEL] == schema_lib.PASSTHROUGH  # derived from marital_status: never a feature
    assert {n for n, f in features.items() if f.bucket_feature} == {"age", "hours_per_week"}
    assert features["age"].num_buckets == 10 and not any(f.hashed for f in features.values())
    assert {n for n, f in features.items() if not f.required} == ADULT_OPTIONAL | {adult.SECOND_LABEL}


def test_criteo_schema_kinds(logs):
    features = {f.name: f for f in schema_lib.schema_features(schema_lib.load_schema(CRITEO_SCHEMA))}
    assert list(features) == list(criteo.COLUMNS)
    assert features["label"].kind == schema_lib.LABEL
    for name in criteo.INT_COLUMNS:
        feature = features[name]
        assert (feature.kind, feature.dtype, feature.required) == (schema_lib.NUMERIC, "int", False), name
    for name in criteo.CAT_COLUMNS:
        feature = features[name]
        assert (feature.kind, feature.dtype) == (schema_lib.CATEGORICAL, "bytes")
        # Hashed exactly when a vocabulary could outgrow 20,000 entries.
        assert feature.hashed == (criteo.CARDINALITIES[name] > 20_000), name
        assert feature.required == (logs[name].notna().all()), name
    _assert_frame_fits_schema(logs, CRITEO_SCHEMA)


# --- config and prepare_input ------------------------------------------------------------


def test_adult_config_loads():
    from pipelines.config import load_config

    config = load_config(REPO / "configs" / "adult.yaml")
    assert (config.data.source, config.model.name) == ("adult", "deepfm")
    assert config.schema == str(ADULT_SCHEMA) and config.data.path == str(REPO.parent / "shared" / "data" / "uci-adult")
    assert config.output_dir == str(REPO / "demo_output" / "adult_income")


def _config(tmp_path, source, schema, **data):
    """The adult config with another data section, validated like a config file (so the source is known)."""
    from pipelines.config import load_config

    return load_config(REPO / "configs" / "adult.yaml", output_dir=str(tmp_path / "out"), schema=str(schema),
                       data={"source": source, **data})


def test_prepare_input_adult_writes_the_real_train_split(shared_dir, tmp_path, train):
    from pipelines.inputs import prepare_input

    lines = []
    prepared = prepare_input(_config(tmp_path, "adult", ADULT_SCHEMA, path=str(shared_dir)), lines.append)
    assert lines == [] and "32,561 rows" in prepared.description
    expected = adult.write_csv(train, tmp_path / "expected")
    assert (pathlib.Path(prepared.csv_dir) / "data.csv").read_bytes() == expected.read_bytes()


def test_prepare_input_adult_falls_back_to_synthetic(tmp_path, no_env, monkeypatch):
    from pipelines.inputs import prepare_input

    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "empty-cache"))  # not the user's cache
    lines = []
    config = _config(tmp_path, "adult", ADULT_SCHEMA, path=str(tmp_path / "missing"), download=False,
                     synthetic_rows=300, seed=4)
    prepared = prepare_input(config, lines.append)
    assert "no UCI Adult copy at" in lines[0] and "UCI Adult is not available" in lines[1]
    assert prepared.description == "synthetic UCI Adult-shaped data (300 rows, seed 4)"
    written = pd.read_csv(pathlib.Path(prepared.csv_dir) / "data.csv")
    assert list(written.columns) == list(adult.COLUMNS) and len(written) == 300


def test_prepare_input_criteo_synthetic(tmp_path):
    from pipelines.inputs import prepare_input

    config = _config(tmp_path, "criteo_synthetic", CRITEO_SCHEMA, synthetic_rows=1500, seed=2)
    prepared = prepare_input(config, lambda line: None)
    assert prepared.description == "synthetic Criteo-shaped data (1,500 rows, seed 2)"
    expected = criteo.write_csv(criteo.synthetic(1500, seed=2), tmp_path / "expected")
    assert (pathlib.Path(prepared.csv_dir) / "data.csv").read_bytes() == expected.read_bytes()
