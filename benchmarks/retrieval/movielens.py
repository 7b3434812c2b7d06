"""Retrieval on MovieLens latest-small: each objective of ``two_tower`` next to a most-popular
baseline and a TFRS two-tower of the same size, on a time-ordered split, over the full corpus.

Split (``zoo.data.movielens_retrieval``): ratings before the 80% time quantile train; every user
who rates after it is a test query at the cutoff, relevant = the movies rated afterwards and not
before; all 9,742 movies are ranked, minus the ones the user already rated. Both towers are
embeddings (32) of the query features (user id, mean of the last 20 movies, sharing the movie
table) or candidate features (movie id, mean of its genres) -> Dense(64, ReLU) -> Dense(32),
cosine scores at temperature 0.1 (learned in zoo, fixed in TFRS).

    .venv/bin/python -m benchmarks.retrieval.movielens [--epochs 3] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import zoo
from benchmarks.report import save
from zoo.backend import keras, tf
from zoo.data import movielens_retrieval
from zoo.retrieval.metrics import full_corpus_metrics, ranking_metrics
from zoo.retrieval.samplers import CodebookRefresh

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "movielens-latest-small"
OBJECTIVES = ("in_batch", "in_batch_logq", "mixed", "midx")
CONFIG = dict(candidate_id="movie_id", query_features=movielens_retrieval.QUERY_FEATURES,
              candidate_features=movielens_retrieval.CANDIDATE_FEATURES, embedding_dim=32, hidden_units=(64,),
              scoring="cosine", temperature=0.1, num_negatives=64, num_codewords=16)
BATCH, LEARNING_RATE, REFRESH_STEPS = 512, 3e-3, 50
COLUMNS = ("recall@10", "recall@50", "recall@100", "ndcg@10")


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def _dataset(train, seed):
    return tf.data.Dataset.from_tensor_slices(train).shuffle(len(train["movie_id"]), seed=seed).batch(BATCH)


def _evaluate(query, candidates, split):
    return full_corpus_metrics(query, candidates, split.corpus["movie_id"], split.test_relevant,
                               exclude=split.test_seen)


def run_zoo(split, objective, seed, epochs):
    keras.utils.set_random_seed(seed)
    model = zoo.create("two_tower", split.spec, objective=objective, **CONFIG)
    model.set_corpus(split.corpus)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    timer = EpochTimer()
    model.fit(_dataset(split.train, seed), epochs=epochs, verbose=0, callbacks=[timer, CodebookRefresh(REFRESH_STEPS)])
    query = model.encoder.embed_query(split.test_queries).numpy()
    return _evaluate(query, model.embed_corpus(), split), timer.seconds


def _mean_of_ids(table, ids):
    """Mean embedding of the non-padding ids; 0 for an empty list (GlobalAveragePooling1D gives NaN there)."""
    mask = tf.cast(ids != 0, tf.float32)[..., tf.newaxis]
    return tf.reduce_sum(table(ids) * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)


def run_tfrs(split, seed, epochs):
    """The peer: the same towers written with plain Keras layers, trained by ``tfrs.tasks.Retrieval``
    (in-batch softmax, no correction)."""
    import tensorflow_recommenders as tfrs

    keras.utils.set_random_seed(seed)
    sizes = {f.name: f.vocab_size for f in split.spec.features}
    dim = CONFIG["embedding_dim"]

    def mlp():
        return keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(dim)])

    class Peer(tfrs.Model):
        def __init__(self):
            super().__init__()
            self.users = keras.layers.Embedding(sizes["user_id"], dim)
            self.movies = keras.layers.Embedding(sizes["movie_id"], dim)
            self.genres = keras.layers.Embedding(sizes["genres"], dim)
            self.query_mlp, self.candidate_mlp = mlp(), mlp()
            self.task = tfrs.tasks.Retrieval(temperature=CONFIG["temperature"])

        def query(self, f):
            history = _mean_of_ids(self.movies, f["history"])
            return tf.math.l2_normalize(self.query_mlp(tf.concat([self.users(f["user_id"]), history], 1)), 1)

        def candidate(self, f):
            genres = _mean_of_ids(self.genres, f["genres"])
            return tf.math.l2_normalize(self.candidate_mlp(tf.concat([self.movies(f["movie_id"]), genres], 1)), 1)

        def compute_loss(self, features, training=False):
            return self.task(self.query(features), self.candidate(features), compute_metrics=False)

    model = Peer()
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE))
    timer = EpochTimer()
    model.fit(_dataset(split.train, seed), epochs=epochs, verbose=0, callbacks=[timer])
    query = model.query({k: tf.constant(v) for k, v in split.test_queries.items()}).numpy()
    candidates = model.candidate({k: tf.constant(v) for k, v in split.corpus.items()}).numpy()
    return _evaluate(query, candidates, split), timer.seconds


def most_popular(split):
    ranking = np.argsort(-split.train_counts, kind="stable")
    ranking = ranking[np.isin(ranking, split.corpus["movie_id"])]
    ranked = [[m for m in ranking[:100 + len(seen)] if m not in set(seen)][:100] for seen in split.test_seen]
    return ranking_metrics(ranked, split.test_relevant)


def _cell(values):
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    split = movielens_retrieval.load(DATA)
    runs = {"most popular": ([most_popular(split)], [])}
    for name, run in [*[(f"two_tower {o}", lambda s, o=o: run_zoo(split, o, s, args.epochs)) for o in OBJECTIVES],
                      ("TFRS two-tower (in-batch)", lambda s: run_tfrs(split, s, args.epochs))]:
        results, seconds = [], []
        for seed in args.seeds:
            result, epoch_seconds = run(seed)
            results.append(result)
            seconds.extend(epoch_seconds[1:] or epoch_seconds)  # the first epoch also traces the step
            print(name, seed, result, epoch_seconds, flush=True)
        runs[name] = (results, seconds)
    table = [["model", *COLUMNS, "s / epoch"]]
    for name, (results, seconds) in runs.items():
        table.append([name, *(_cell([r[c] for r in results]) for c in COLUMNS),
                      f"{np.mean(seconds):.1f}" if seconds else "—"])
    cold = int(np.sum(split.test_queries["user_id"] == 1))
    save("retrieval_movielens", {
        "title": "Retrieval on MovieLens latest-small: two-tower objectives vs baselines (full corpus)",
        "command": f".venv/bin/python -m benchmarks.retrieval.movielens --epochs {args.epochs} "
                   f"--seeds {' '.join(map(str, args.seeds))}",
        "notes": [
            f"Time-ordered split: {len(split.train['movie_id'])} training interactions before the 80% time quantile; "
            f"{len(split.test_relevant)} test users ({cold} of them have no training interaction and are user id 1), "
            f"ranked over all {len(split.corpus['movie_id'])} movies minus those already rated.",
            f"Mean ± std over seeds {args.seeds}; {args.epochs} epochs, batch {BATCH}, Adam {LEARNING_RATE}; "
            f"embedding 32, towers Dense(64)-Dense(32), cosine, temperature 0.1. mixed: in-batch + "
            f"{CONFIG['num_negatives']} uniform negatives per step; midx: {CONFIG['num_negatives']} negatives per "
            f"query, K = {CONFIG['num_codewords']} codewords per half, codebooks refreshed every {REFRESH_STEPS} steps.",
            "The peer is a TFRS two-tower (tfrs.tasks.Retrieval) of the same size; DeepMatch is not installed.",
            "s / epoch: mean wall time of the epochs after each run's first (which also compiles the step).",
            "s / epoch is wall time on the machine's CPUs; their load average at the end of the run is recorded "
            "with it (machine.load_average_1_5_15).",
        ],
        "table": table,
        "raw": {name: {"results": results, "epoch_seconds": seconds} for name, (results, seconds) in runs.items()},
    })


if __name__ == "__main__":
    main()
