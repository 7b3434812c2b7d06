"""Training throughput and peak memory of every tabular ranking model on Criteo-shaped data.

The synthetic Criteo-shaped set (`zoo.data.criteo`, schema `schemas/criteo_synthetic.pbtxt`: 13
counts, 26 skewed categoricals) at 1M rows, encoded as its Transform would encode it (ids from a
vocabulary per categorical, or hash buckets where the schema says ``zoo.num_buckets``; counts
mean-filled and z-scored), so embedding tables have the sizes a real run gives them. Each model
trains in its own process (peak RSS is that process's maximum resident set: TensorFlow, the data
and the model together, what a machine must hold) for ``--steps`` steps of ``--batch_size``
examples; throughput counts every step after the first 10.

    .venv/bin/python -m benchmarks.ranking.criteo_throughput [--rows 1000000] [--steps 200]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile

import numpy as np

from benchmarks.ranking.quality import EMBEDDING_DIM, HIDDEN_UNITS, _our_hparams, models_to_run
from benchmarks.report import save, saved_results


def _encode(rows: int, seed: int, path: pathlib.Path) -> None:
    from zoo import schema as schema_lib
    from zoo.data import criteo
    from zoo.features import RESERVED_IDS, CategoricalFeature, FeatureSpec, NumericFeature

    frame = criteo.synthetic(rows, seed=seed)
    schema = schema_lib.load_schema(pathlib.Path(__file__).resolve().parents[2] / "schemas" / "criteo_synthetic.pbtxt")
    arrays, features = {}, []
    for f in schema_lib.schema_features(schema):
        column = frame[f.name]
        if f.kind == schema_lib.NUMERIC:
            values = column.astype("float64")
            filled = values.fillna(values.mean()).to_numpy()
            arrays[f.name] = ((filled - filled.mean()) / (filled.std() or 1.0)).astype(np.float32)
            features.append(NumericFeature(f.name))
        elif f.kind == schema_lib.CATEGORICAL:
            present = column.notna().to_numpy()
            if f.hashed:
                ids = (_hashes(column) % np.uint64(f.num_buckets)).astype(np.int64) + 1
                size = f.num_buckets + 1
            else:
                codes, uniques = column.factorize()
                ids, size = codes.astype(np.int64) + 1, len(uniques) + RESERVED_IDS
            arrays[f.name] = np.where(present, ids, 0)
            features.append(CategoricalFeature(f.name, size))
        elif f.kind == schema_lib.LABEL:
            arrays["__label__"] = column.to_numpy().astype(np.float32)
    spec = FeatureSpec(tuple(features), schema_lib.label_name(schema_lib.schema_features(schema)))
    np.savez(path, **arrays)
    path.with_suffix(".json").write_text(json.dumps(spec.to_config()))


def _hashes(column) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_pandas_object(column.fillna(""), index=False).to_numpy().astype(np.uint64)


def _child(name: str, data: pathlib.Path, steps: int, batch_size: int) -> None:
    """Runs in its own process: trains ``name`` and prints one JSON line."""
    import zoo
    from benchmarks.ranking.measure import train_and_score
    from zoo.backend import tf

    arrays = dict(np.load(data))
    labels = arrays.pop("__label__")
    spec = zoo.FeatureSpec.from_config(json.loads(data.with_suffix(".json").read_text()))
    rows = min(len(labels), steps * batch_size)
    train = ({k: v[:rows] for k, v in arrays.items()}, labels[:rows])
    test = ({k: v[-50_000:] for k, v in arrays.items()}, labels[-50_000:])
    tf.keras.utils.set_random_seed(0)
    model = zoo.create(name, spec, **_our_hparams(name))
    run = train_and_score(model, train, test, batch_size=batch_size, epochs=1, learning_rate=1e-3)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": name, "examples_per_second": run.examples_per_second, "peak_rss_mib": peak_mib,
                      "parameters": int(model.count_params()), "train_seconds": run.train_seconds, "steps": steps}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--notes", nargs="*", default=[])
    parser.add_argument("--merge", action="store_true",
                        help="replace only these models' rows (and add --notes) in the saved results")
    args = parser.parse_args()
    if args.child:
        return _child(args.child, pathlib.Path(args.data), args.steps, args.batch_size)

    data = pathlib.Path(tempfile.gettempdir()) / f"zoo-criteo-{args.rows}.npz"
    if not data.exists():
        _encode(args.rows, 0, data)
    earlier = saved_results("ranking_criteo_throughput") if args.merge else {}
    kept = [r for r in earlier.get("results", []) if r["model"] not in (args.models or [])]
    notes = [*earlier.get("notes", []), *args.notes]
    results = []
    for name in args.models or models_to_run():
        command = [sys.executable, "-m", "benchmarks.ranking.criteo_throughput", "--child", name, "--data", str(data),
                   "--steps", str(args.steps), "--batch_size", str(args.batch_size)]
        completed = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            results.append({"model": name, "error": completed.stderr.strip().splitlines()[-1][:200]})
        else:
            results.append(json.loads(lines[-1]))
        print(results[-1], flush=True)
    results = sorted(kept + results, key=lambda r: r["model"])
    table = [["model", "train examples/s", "peak RSS MiB", "parameters"]]
    table += [[r["model"], f"{r['examples_per_second']:.0f}", f"{r['peak_rss_mib']:.0f}", f"{r['parameters']:,}"]
              if "error" not in r else [r["model"], "failed: " + r["error"], "-", "-"] for r in results]
    save("ranking_criteo_throughput", {
        "title": f"Ranking models on Criteo-shaped synthetic data ({args.rows:,} rows): throughput and peak memory",
        "command": ".venv/bin/python -m benchmarks.ranking.criteo_throughput",
        "notes": notes if args.merge else [
            f"{args.rows:,} rows generated (seed 0), {args.steps} training steps of {args.batch_size} per "
            f"model, embedding {EMBEDDING_DIM}, MLP {list(HIDDEN_UNITS)}, one process per model.",
            "peak RSS = the model's process maximum resident set (TensorFlow + the 1M-row arrays + model).",
            *args.notes],
        "table": table, "results": results,
    })


if __name__ == "__main__":
    main()
