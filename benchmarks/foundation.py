"""Foundation benchmark: the demo pipeline's wall time by component, then each first model's
held-out AUC and log loss on MovieLens latest-small.

Split: CsvExampleGen's hash split of the 100,836 ratings, train:eval = 4:1 (deterministic, by
example content); seed 0 for initialization and shuffling; the demo config's training budget.
All models share one pipeline root, so ExampleGen, StatisticsGen and Transform run once and the
other models reuse them from the ML Metadata cache, exactly as a user switching models would.

    .venv/bin/python -m benchmarks.foundation [--output_dir DIR]
"""
from __future__ import annotations

import argparse
import dataclasses
import pathlib
import shutil
import tempfile
import time

from benchmarks.report import save
from pipelines.config import load_config
from pipelines.demo import DEFAULT_CONFIG, http_json, request_instances
from pipelines.run import run_pipeline

MODELS = {  # the demo's model first; the same embedding size and MLP for all
    "deepfm": {},
    "wide_deep": {"embedding_dim": 16, "hidden_units": [128, 64], "dropout": 0.2},
    "dcn_v2": {"embedding_dim": 16, "hidden_units": [128, 64], "dropout": 0.2},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_dir", default=None, help="default: a fresh temporary directory")
    args = parser.parse_args()
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="zoo-bench-")
    base = load_config(DEFAULT_CONFIG, output_dir=output_dir)
    base = base.replace(data=dataclasses.replace(base.data, fallback_to_synthetic=False, download=False))

    runs = {}
    for name, hparams in MODELS.items():
        config = base.replace(model=dataclasses.replace(base.model, name=name, hparams=hparams or base.model.hparams))
        summary = run_pipeline(config, echo=lambda line: print(f"{name}: {line}", flush=True))
        runs[name] = (config, summary)
    demo_config, demo = runs["deepfm"]
    serve_seconds = _serve_and_query(demo_config, demo.pushed_path)

    save("foundation_demo_timing", {
        "title": "Demo pipeline wall time by component (MovieLens latest-small, deepfm)",
        "command": ".venv/bin/python -m benchmarks.foundation",
        "notes": [f"data: {demo.data}; LocalDagRunner, Beam DirectRunner in-memory, cold pipeline root",
                  "process start-up and imports (~30 s) are not included; serving = load + 5 REST predictions"],
        "table": [["component", "seconds"],
                  *[[n, f"{s:.1f}"] for n, s in demo.component_seconds.items()],
                  ["serving (start, 5 requests, stop)", f"{serve_seconds:.1f}"],
                  ["pipeline total", f"{demo.total_seconds:.1f}"]],
        "component_seconds": demo.component_seconds, "pipeline_seconds": demo.total_seconds,
        "serving_seconds": serve_seconds,
    })
    save("foundation_movielens_models", {
        "title": "First models on MovieLens latest-small CTR (held-out AUC / log loss)",
        "command": ".venv/bin/python -m benchmarks.foundation",
        "notes": ["label: rating >= 4; features: user_id, movie_id, genres (multi-valued), release_year "
                  "(z-score + 10 quantile buckets), hour, weekday",
                  "split: CsvExampleGen hash split train:eval = 4:1 of all 100,836 ratings; seed 0; "
                  f"{base.training.train_steps} steps of batch {base.training.batch_size}, Adam "
                  f"lr={base.training.learning_rate}",
                  "metrics from the TFX Evaluator (TFMA) on the eval split through the serving signature"],
        "table": [["model", "AUC", "log loss", "calibration", "eval examples", "blessed", "Trainer s"],
                  *[[n, f"{s.metrics['auc']:.4f}", f"{s.metrics['binary_crossentropy']:.4f}",
                     f"{s.metrics['calibration']:.3f}", int(s.metrics["example_count"]), s.blessed,
                     f"{s.component_seconds['Trainer']:.1f}"] for n, (_, s) in runs.items()]],
        "models": {n: {"hparams": c.model.hparams, "metrics": s.metrics, "blessed": s.blessed,
                       "trainer_seconds": s.component_seconds["Trainer"]} for n, (c, s) in runs.items()},
        "split": {"kind": "hash", "train_buckets": base.data.train_buckets, "eval_buckets": base.data.eval_buckets},
        "seed": base.training.seed,
    })
    if args.output_dir is None:
        shutil.rmtree(output_dir)


def _serve_and_query(config, pushed_path: str) -> float:
    from serving.server import start_server

    started = time.monotonic()
    _, instances = request_instances(config)
    with start_server(config.serving_model_name, str(pathlib.Path(pushed_path).parent)) as server:
        for instance in instances:
            http_json(f"{server.url}/v1/models/{config.serving_model_name}:predict", {"instances": [instance]})
    return time.monotonic() - started


if __name__ == "__main__":
    main()
