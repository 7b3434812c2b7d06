"""Next-item recommendation on MovieLens latest-small: sasrec and fmlp_rec next to popularity.

    .venv/bin/python -m benchmarks.sequence.next_item [--epochs 2] [--seeds 0 1 2] [--max_len 50]

Leave-last-out: each user's last rating (by time) is the test target, predicted from the up to
``max_len`` ratings strictly before it; every earlier rating is a training target with its own
history (``zoo.data.histories``). Candidates are the full item set (every movie of the training
vocabulary, no sampled negatives); a target never seen in training counts as a miss. HR@10 is the
share of users whose target ranks in the top 10, NDCG@10 the mean ``1 / log2(rank + 2)`` over
those hits (rank from 0). The popularity baseline ranks movies by training count.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import zoo
from benchmarks.report import save
from benchmarks.sequence.data import DATA_DIR
from zoo.backend import keras
from zoo.data.histories import add_histories, load_events

K = 10


def load(max_len: int):
    frame = add_histories(load_events(DATA_DIR), max_len)
    users = frame.groupby("user_id")
    last = (users.cumcount() == users["user_id"].transform("size") - 1).to_numpy()  # the frame is time-ordered
    train, test = frame[~last], frame[last]
    vocab = {m: i + 2 for i, m in enumerate(sorted(set(train["movie_id"])))}  # 0 padding, 1 unseen

    def encode(rows):
        ids = np.zeros((len(rows), max_len), np.int64)
        for r, history in enumerate(rows["hist_movie_ids"]):
            ids[r, :len(history)] = [vocab.get(m, 1) for m in history]
        return ids, np.array([vocab.get(m, 1) for m in rows["movie_id"]], np.int64)

    return encode(train), encode(test), len(vocab) + 2


def hr_ndcg(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    ranks = (scores > target_scores).sum(axis=1)
    hits = (ranks < K) & (targets != 1)  # an unseen target cannot be recommended
    return float(hits.mean()), float(np.where(hits, 1.0 / np.log2(ranks + 2), 0.0).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max_len", type=int, default=50)
    parser.add_argument("--embedding_dim", type=int, default=64)
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test), vocab_size = load(args.max_len)
    spec = zoo.FeatureSpec((zoo.SequenceFeature("hist_movie_ids", vocab_size, args.max_len),))

    popularity = np.bincount(y_train, minlength=vocab_size).astype(np.float32)
    popularity[:2] = -1  # padding and "unseen" are not items
    results = {"popularity": [hr_ndcg(np.tile(popularity, (len(y_test), 1)), y_test)]}
    seconds = {}
    for name in ("sasrec", "fmlp_rec"):
        results[name], seconds[name] = [], []
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            model = zoo.create(name, spec, embedding_dim=args.embedding_dim)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            start = time.perf_counter()
            model.fit({"hist_movie_ids": x_train}, y_train, batch_size=256, epochs=args.epochs, shuffle=True, verbose=0)
            seconds[name].append(time.perf_counter() - start)
            scores = model.predict({"hist_movie_ids": x_test}, batch_size=512, verbose=0)
            results[name].append(hr_ndcg(scores, y_test))
            print(name, seed, results[name][-1], seconds[name][-1], flush=True)

    def cell(values, index):
        column = [v[index] for v in values]
        return f"{np.mean(column):.4f} ± {np.std(column):.4f}"

    table = [["model", "HR@10", "NDCG@10", "fit seconds"]]
    for name, values in results.items():
        table.append([name, cell(values, 0), cell(values, 1), f"{np.mean(seconds[name]):.0f}" if name in seconds else "-"])
    save("sequence_next_item", {
        "title": "Next-item recommendation on MovieLens latest-small (leave-last-out, full item set)",
        "command": ".venv/bin/python -m benchmarks.sequence.next_item",
        "notes": [f"{len(y_train)} training targets, {len(y_test)} test users, {vocab_size - 2} candidate movies "
                  "(all movies in training; no sampled negatives)",
                  f"histories up to {args.max_len}; embedding {args.embedding_dim}, default blocks (2), "
                  f"full softmax, Adam 1e-3, batch 256, {args.epochs} epoch(s), seeds {args.seeds}",
                  "fit seconds: wall time on the machine's CPUs; the load average at the end of the run is recorded "
                  "with it (the project's tests shared the CPUs for part of the run)"],
        "table": table, "results": results, "fit_seconds": seconds, "args": vars(args),
    })


if __name__ == "__main__":
    main()
