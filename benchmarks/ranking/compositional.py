"""Compositional (quotient-remainder) embeddings: memory saved and AUC change.

Each model trains on MovieLens-CTR (the split of `benchmarks/ranking/data.py`) with plain tables and
with `FeatureSpec.with_compositional(collisions=M, min_vocab_size=1000)` (movie_id's ~9.7k-row table
becomes two tables of ceil(V/M) and M rows), 3 seeds, same settings as `benchmarks.ranking.quality`.

    .venv/bin/python -m benchmarks.ranking.compositional [--collisions 4 16] [--models deepfm dcn_v2]
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile

import numpy as np

import zoo
from benchmarks.ranking.data import load
from benchmarks.ranking.measure import train_and_score
from benchmarks.ranking.quality import TRAINING, _our_hparams
from benchmarks.report import save
from zoo.backend import tf
from zoo.features import FeatureSpec

MIN_VOCAB = 1000


def _embedding_parameters(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.weights
               if "embedding" in w.name or "quotient" in w.name or "remainder" in w.name or "linear_" in w.name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["deepfm", "dcn_v2", "wide_deep"])
    parser.add_argument("--collisions", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--cache_dir", default=str(pathlib.Path(tempfile.gettempdir()) / "zoo-ranking-bench"))
    parser.add_argument("--notes", nargs="*", default=[])
    args = parser.parse_args()
    data = load("movielens", args.cache_dir)
    spec = FeatureSpec.from_config(data["spec"])
    rows, results = [["model", "tables", "embedding parameters", "vs plain", "AUC", "AUC change"]], []
    for name in args.models:
        plain_auc = plain_parameters = None
        for collisions in [None, *args.collisions]:
            variant = spec if collisions is None else spec.with_compositional(collisions, MIN_VOCAB)
            aucs, parameters = [], 0
            for seed in args.seeds:
                tf.keras.utils.set_random_seed(seed)
                model = zoo.create(name, variant, **_our_hparams(name))
                parameters = _embedding_parameters(model)
                aucs.append(train_and_score(model, data["train"], data["test"], **TRAINING["movielens"]).auc)
            if collisions is None:
                plain_auc, plain_parameters = np.mean(aucs), parameters
            result = {"model": name, "collisions": collisions, "embedding_parameters": parameters,
                      "plain_parameters": plain_parameters, "auc_mean": float(np.mean(aucs)),
                      "auc_std": float(np.std(aucs)), "aucs": aucs}
            results.append(result)
            print(result, flush=True)
            rows.append([name, "plain" if collisions is None else f"QR, M={collisions}", f"{parameters:,}",
                         f"{parameters / plain_parameters:.2f}x", f"{np.mean(aucs):.4f} ± {np.std(aucs):.4f}",
                         f"{np.mean(aucs) - plain_auc:+.4f}"])
    save("ranking_compositional_embeddings", {
        "title": "Quotient-remainder embeddings on MovieLens-CTR: memory and AUC",
        "command": ".venv/bin/python -m benchmarks.ranking.compositional",
        "notes": [f"tables with >= {MIN_VOCAB} rows become compositional (here movie_id); seeds {args.seeds}; "
                  "settings as in the ranking quality benchmark (MovieLens: batch 512, 1 epoch).",
                  "embedding parameters include first-order (linear) tables where the model has them.",
                  *args.notes],
        "table": rows, "results": results,
    })


if __name__ == "__main__":
    main()
