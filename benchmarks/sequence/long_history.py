"""Throughput of din vs sdim as the history grows (50, 200, 1000 behaviours).

    .venv/bin/python -m benchmarks.sequence.long_history [--rows 2048]

DIN scores every behaviour with its activation-unit MLP; SDIM hashes behaviours and gathers those
sharing the candidate's signature, with no per-behaviour network. Synthetic inputs with full
histories (every position a real behaviour, 10,000 items) isolate the sequence cost; both models
use embedding 16 and MLP 200-80. Inference: ``predict`` examples/s (batch 256); training: ``fit``
examples/s (batch 256, one epoch after a warm-up epoch).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import zoo
from benchmarks.report import save
from zoo.backend import keras

LENGTHS = (50, 200, 1000)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2048)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    table = [["history length", "din predict ex/s", "sdim predict ex/s", "din train ex/s", "sdim train ex/s",
              "sdim/din predict"]]
    raw = {}
    for length in LENGTHS:
        spec = zoo.FeatureSpec((zoo.CategoricalFeature("user_id", 1000), zoo.CategoricalFeature("movie_id", 10_000),
                                zoo.SequenceFeature("hist_movie_ids", 10_000, length, shares="movie_id")))
        inputs = {"user_id": rng.integers(1, 1000, args.rows), "movie_id": rng.integers(1, 10_000, args.rows),
                  "hist_movie_ids": rng.integers(1, 10_000, (args.rows, length))}
        labels = rng.integers(0, 2, args.rows).astype(np.float32)
        raw[length] = {}
        for name in ("din", "sdim"):
            keras.utils.set_random_seed(0)
            model = zoo.create(name, spec, embedding_dim=16, hidden_units=(200, 80))
            model.compile(optimizer="adam", loss="binary_crossentropy")
            model.predict(inputs, batch_size=256, verbose=0)  # warm-up: tracing
            predict = args.rows / timed(lambda: model.predict(inputs, batch_size=256, verbose=0))
            model.fit(inputs, labels, batch_size=256, epochs=1, verbose=0)
            train = args.rows / timed(lambda: model.fit(inputs, labels, batch_size=256, epochs=1, verbose=0))
            raw[length][name] = {"predict": predict, "train": train}
            print(length, name, raw[length][name], flush=True)
        r = raw[length]
        table.append([length, f"{r['din']['predict']:.0f}", f"{r['sdim']['predict']:.0f}", f"{r['din']['train']:.0f}",
                      f"{r['sdim']['train']:.0f}", f"{r['sdim']['predict'] / r['din']['predict']:.2f}x"])
    save("sequence_long_history", {
        "title": "din vs sdim throughput as the history grows",
        "command": ".venv/bin/python -m benchmarks.sequence.long_history",
        "notes": [f"synthetic full histories, {args.rows} rows per measurement, batch 256, CPU",
                  "the 2 CPUs were shared with other engineers' jobs during the run (see the load average): "
                  "compare the two models at each length rather than absolute numbers"],
        "table": table, "raw": raw,
    })


if __name__ == "__main__":
    main()
