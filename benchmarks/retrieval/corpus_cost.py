"""What the sampled objectives cost next to the full softmax as the item corpus grows.

Synthetic corpora of 10k, 100k and 1M items; the query tower is a user-id embedding and an MLP,
the candidate tower the item's own embedding ("embedding" tower), dimension 32, so the step time
is dominated by the objective. Times are the median wall time of a training step (forward,
backward, Adam) after two warm-up steps, from ``model.fit`` with one step per call of the
compiled function. MIDX's codebook refresh (k-means over all item embeddings) is timed apart:
it runs every ``CodebookRefresh`` period, not every step.

    .venv/bin/python -m benchmarks.retrieval.corpus_cost [--sizes 10000 100000 1000000]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import zoo
from benchmarks.report import save
from zoo.backend import keras
from zoo.retrieval.objectives import OBJECTIVES

BATCH, USERS, DIM, NEGATIVES, CODEWORDS = 128, 10_000, 32, 64, 32
WARMUP = 2


class StepTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def step_seconds(objective: str, corpus_size: int, steps: int) -> tuple[float, float | None]:
    """(median seconds per training step, seconds of one MIDX refresh or None)."""
    keras.utils.set_random_seed(0)
    spec = zoo.FeatureSpec((zoo.CategoricalFeature("user_id", USERS + 2),
                            zoo.CategoricalFeature("item_id", corpus_size + 2)))
    model = zoo.create("two_tower", spec, candidate_id="item_id", candidate_tower="embedding", embedding_dim=DIM,
                       hidden_units=(64,), objective=objective, num_negatives=NEGATIVES, num_codewords=CODEWORDS)
    start = time.perf_counter()
    model.set_corpus({"item_id": np.arange(2, corpus_size + 2)})
    refresh = time.perf_counter() - start if objective == "midx" else None
    rng = np.random.default_rng(0)
    rows = BATCH * (steps + WARMUP)
    data = {"user_id": rng.integers(2, USERS + 2, rows),
            "item_id": np.minimum(rng.zipf(1.2, rows), corpus_size) + 1}  # skewed item popularity
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = StepTimer()
    model.fit(data, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    return statistics.median(timer.seconds[WARMUP:]), refresh


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--full_softmax_steps_at_1m", type=int, default=4)
    args = parser.parse_args()
    measured = {}
    for size in args.sizes:
        for objective in OBJECTIVES:
            steps = args.full_softmax_steps_at_1m if objective == "full_softmax" and size >= 1_000_000 else args.steps
            measured[(objective, size)] = step_seconds(objective, size, steps)
            print(objective, size, measured[(objective, size)], flush=True)
    table = [["objective", *(f"ms / step, {size:,} items" for size in args.sizes)]]
    for objective in OBJECTIVES:
        table.append([objective, *(f"{1000 * measured[(objective, size)][0]:.1f}" for size in args.sizes)])
    table.append(["midx codebook refresh (k-means, once per period)",
                  *(f"{1000 * measured[('midx', size)][1]:.0f}" for size in args.sizes)])
    save("retrieval_corpus_cost", {
        "title": "Retrieval: cost of sampled objectives vs the full softmax as the corpus grows (synthetic)",
        "command": ".venv/bin/python -m benchmarks.retrieval.corpus_cost --sizes "
                   + " ".join(map(str, args.sizes)) + f" --steps {args.steps}",
        "notes": [
            f"Batch {BATCH}, embedding {DIM}, query tower user-id embedding + Dense(64) + Dense({DIM}), candidate "
            f"tower = the item embedding; mixed: {NEGATIVES} uniform negatives per step besides the batch; midx: "
            f"{NEGATIVES} negatives per query from K = {CODEWORDS} codewords per half ({CODEWORDS ** 2} cells).",
            f"Median of {args.steps} steps after {WARMUP} warm-up steps ({args.full_softmax_steps_at_1m} steps for "
            "the full softmax at 1M items). The refresh row is one k-means refit of both codebooks (10 Lloyd "
            "iterations, numpy) over all item embeddings.",
            "Wall times on the machine's CPUs (the load average at the end of the run is recorded with them); "
            "the growth with corpus size is the point.",
        ],
        "table": table,
        "raw": {f"{objective}@{size}": {"step_seconds": value[0], "refresh_seconds": value[1]}
                for (objective, size), value in measured.items()},
    })


if __name__ == "__main__":
    main()
