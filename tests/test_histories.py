"""Leakage-free behaviour histories: the builder, its Beam twin, the tf.Example writer and schema."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from zoo.data import histories
from zoo.schema import load_schema, schema_features

SCHEMA = REPO / "schemas" / "movielens_history.pbtxt"


def _events():
    # User 7 rates two movies in the same second (20): neither may see the other.
    return pd.DataFrame({
        "user_id": [7, 7, 8, 7, 7],
        "movie_id": [1, 2, 5, 3, 4],
        "genres": ["A|B", "", "C", "B", "A"],
        "rating": [4.0, 2.5, 1.0, 5.0, 3.0],
        "timestamp": [10, 20, 15, 20, 10 + 3600 * 7 + 10],
    })


def test_histories_hold_only_strictly_earlier_behaviours_most_recent_max_len_oldest_first():
    out = histories.add_histories(_events(), max_len=2)
    assert out["hist_movie_ids"].tolist() == [[], [1], [], [1], [2, 3]]
    assert out["hist_genres"].tolist() == [[], ["A"], [], ["A"], ["none", "B"]]
    assert out["hist_ratings"].tolist() == [[], [8], [], [8], [5, 10]]
    # 10 s before: bucket 0; the ties at t=20 are 7 hours before the last impression: floor(log2(1 + 7)) = 3.
    assert out["hist_gaps"].tolist() == [[], [0], [], [0], [3, 3]]
    assert out["movie_id"].tolist() == [1, 2, 5, 3, 4]  # rows keep their order


def test_gap_buckets_are_log2_hours():
    np.testing.assert_array_equal(histories.gap_bucket(np.array([0, 3599, 3600, 3 * 3600, 365 * 86400])),
                                  [0, 0, 1, 2, 13])


@pytest.fixture(scope="module")
def movielens_histories(movielens_dir):
    return histories.add_histories(histories.load_events(movielens_dir, max_rows=8000), max_len=20)


def test_no_movielens_history_contains_the_target_or_anything_later(movielens_histories):
    frame = movielens_histories
    seen = {}  # (user, movie) -> timestamp; a MovieLens user rates a movie once
    for user, movie, ts in zip(frame["user_id"], frame["movie_id"], frame["timestamp"]):
        seen[(user, movie)] = ts
    by_user = frame.groupby("user_id")["timestamp"].apply(np.sort).to_dict()
    nonempty = 0
    for row in frame.itertuples():
        hist = row.hist_movie_ids
        assert row.movie_id not in hist
        times = [seen[(row.user_id, m)] for m in hist]
        assert all(t < row.timestamp for t in times)
        assert times == sorted(times)
        earlier = int(np.searchsorted(by_user[row.user_id], row.timestamp, side="left"))
        assert len(hist) == min(20, earlier)  # every earlier behaviour up to max_len, none dropped
        if hist:
            assert times[-1] == by_user[row.user_id][earlier - 1]  # ends at the latest earlier one
            nonempty += 1
        assert len(row.hist_genres) == len(row.hist_ratings) == len(row.hist_gaps) == len(hist)
    assert nonempty > len(frame) // 2


def test_beam_transform_builds_the_same_histories(movielens_histories):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    frame = movielens_histories.head(600)
    events = frame[list(histories.EVENT_COLUMNS)]
    expected = histories.add_histories(events, max_len=5)
    as_tuples = lambda row: (row["user_id"], row["movie_id"], tuple(row["hist_movie_ids"]),  # noqa: E731
                             tuple(row["hist_genres"]), tuple(row["hist_ratings"]), tuple(row["hist_gaps"]))
    with beam.Pipeline() as pipeline:
        rows = pipeline | beam.Create(events.to_dict("records"))
        built = rows | histories.BuildHistories(max_len=5) | beam.Map(as_tuples)
        assert_that(built, equal_to([as_tuples(r) for r in expected.to_dict("records")]))


def test_tf_examples_parse_with_the_history_schema(movielens_histories, tmp_path):
    from pipelines.transform import raw_serving_spec
    from zoo.backend import tf

    schema = load_schema(SCHEMA)
    kinds = {f.name: (f.kind, f.max_len, f.shares) for f in schema_features(schema)}
    assert kinds["hist_movie_ids"] == ("sequence", 50, "movie_id")
    assert {name: kinds[name][0] for name in histories.HISTORY_COLUMNS} == dict.fromkeys(histories.HISTORY_COLUMNS,
                                                                                          "sequence")
    rows = movielens_histories.head(50)
    path = histories.write_tfrecord(rows, tmp_path)
    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    parsed = tf.io.parse_example(records, raw_serving_spec(schema))
    history = tf.RaggedTensor.from_sparse(parsed["hist_movie_ids"]).to_list()
    genres = tf.RaggedTensor.from_sparse(parsed["hist_genres"]).to_list()
    movies = tf.sparse.to_dense(parsed["movie_id"]).numpy()[:, 0]
    assert history == rows["hist_movie_ids"].tolist()
    assert genres == [[g.encode() for g in h] for h in rows["hist_genres"]]
    assert movies.tolist() == rows["movie_id"].tolist()
    assert [] in history and any(len(h) == 20 for h in history)  # empty and full histories both round-trip
