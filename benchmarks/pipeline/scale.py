"""Scale benchmark: Criteo-shaped synthetic data (``zoo.data.criteo``) through the whole pipeline
(ExampleGen, statistics and validation, Transform, Trainer for one epoch, Evaluator, Pusher) at
growing row counts, with Beam's DirectRunner in one process or with 2 worker processes.

For each run: wall time and rows/s per component, and the peak resident memory of the pipeline
process plus its Beam worker processes while each component ran (sampled every 0.5 s). Each run is
a fresh process and a fresh pipeline root, so nothing is cached and earlier runs leave no memory behind.

    .venv/bin/python -m benchmarks.pipeline.scale [--rows 100000 1000000] [--workers 1 2] [--output_dir DIR]
        [--transform_statistics] [--input csv|tfrecord]

``--input csv`` (the default) has the pipeline write the rows as CSV for CsvExampleGen, whose decoding
runs in Python row by row (about 1,400 rows/s here). ``--input tfrecord`` writes them beforehand as
tf.Examples (``zoo.data.criteo.write_synthetic_tfrecord``, timed apart) for ImportExampleGen: the same
examples, and the way to reach millions of rows in a working session.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from pipelines import periodic

REPO = pathlib.Path(__file__).resolve().parents[2]
BATCH_SIZE = 1024
TRAIN_SHARE = 0.8  # the config's 4:1 hash split
HPARAMS = {"embedding_dim": 8, "hidden_units": [64, 32]}
DIRECT_RUNNER_ARGS = {  # workers -> Beam arguments of every component's Beam job
    1: ("--direct_running_mode=in_memory", "--direct_num_workers=1"),
    2: ("--direct_running_mode=multi_processing", "--direct_num_workers=2"),
}
CONFIG = """pipeline_name: criteo_scale
schema: {schema}
output_dir: {output_dir}
serving_model_name: criteo_scale
data: {data}
model: {{name: deepfm}}
"""


class _MemoryByComponent(periodic.every):
    """Samples the resident memory of this process and its children; the peak while each component runs."""

    def __init__(self, interval: float = 0.5):
        import psutil

        self.process = psutil.Process()
        self.running: set[str] = set()
        self.peak: dict[str, int] = {}
        self.overall = 0
        super().__init__(interval, self._sample, name="memory-by-component")

    def echo(self, line: str) -> None:
        print(line, flush=True)
        name, _, state = line.partition("] ")
        if state == "running":
            self.running.add(name[1:])
        elif state.startswith("done in"):
            self.running.discard(name[1:])

    def _rss(self) -> int:
        import psutil

        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # a worker that just exited
                pass
        return total

    def _sample(self) -> None:
        rss = self._rss()
        self.overall = max(self.overall, rss)
        for name in list(self.running):
            self.peak[name] = max(self.peak.get(name, 0), rss)


def run_once(rows: int, workers: int, output_dir: str, transform_statistics: bool = False,
             input_format: str = "csv") -> dict:
    """One pipeline run in this process; returns its measurements."""
    from pipelines.config import load_config
    from pipelines.run import run_pipeline
    from zoo.data import criteo

    input_seconds = 0.0
    if input_format == "tfrecord":
        records = pathlib.Path(output_dir) / "records"
        started = time.monotonic()
        criteo.write_synthetic_tfrecord(records, rows, seed=0)
        input_seconds = time.monotonic() - started
        data = f"{{source: tfrecord, path: {records}}}"
    else:
        data = f"{{source: criteo_synthetic, synthetic_rows: {rows}, seed: 0}}"
    config_path = pathlib.Path(output_dir) / "config.yaml"
    config_path.write_text(CONFIG.format(schema=REPO / "schemas" / "criteo_synthetic.pbtxt", output_dir=output_dir,
                                         data=data))
    config = load_config(config_path)
    train_steps = max(1, round(rows * TRAIN_SHARE / BATCH_SIZE))  # one epoch
    eval_steps = max(1, round(rows * (1 - TRAIN_SHARE) / BATCH_SIZE))
    config = config.replace(
        model=dataclasses.replace(config.model, hparams=HPARAMS),
        training=dataclasses.replace(config.training, train_steps=train_steps, eval_steps=eval_steps,
                                     batch_size=BATCH_SIZE),
        beam_pipeline_args=DIRECT_RUNNER_ARGS[workers],
        transform_statistics=transform_statistics,
    )
    load_before = os.getloadavg()
    with _MemoryByComponent() as memory:
        summary = run_pipeline(config, echo=memory.echo)
    return {"rows": rows, "workers": workers, "transform_statistics": transform_statistics, "input": input_format,
            "tfrecord_write_seconds": input_seconds, "train_steps": train_steps, "total_seconds": summary.total_seconds,
            "component_seconds": summary.component_seconds, "peak_rss_bytes": memory.peak,
            "overall_peak_rss_bytes": memory.overall, "metrics": summary.metrics,
            "load_average_before_after": [list(load_before), list(os.getloadavg())]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], choices=sorted(DIRECT_RUNNER_ARGS))
    parser.add_argument("--output_dir", default=None, help="default: a fresh temporary directory per run")
    parser.add_argument("--transform_statistics", action="store_true",
                        help="Transform also computes its TFDV statistics (the config's transform_statistics)")
    parser.add_argument("--input", choices=("csv", "tfrecord"), default="csv",
                        help="what ExampleGen reads: CSV written by the pipeline, or TFRecords written beforehand")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child run: prints JSON
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_once(args.rows[0], args.workers[0], args.output_dir, args.transform_statistics,
                                              args.input)), flush=True)
        return
    runs = []
    for rows in args.rows:
        for workers in args.workers:
            output_dir = tempfile.mkdtemp(prefix=f"zoo-scale-{rows}-{workers}-", dir=args.output_dir)
            started = time.monotonic()
            run = _run_child(rows, workers, output_dir, args.transform_statistics, args.input)
            run["process_seconds"] = time.monotonic() - started  # with imports and data generation
            runs.append(run)
            _save(runs, args)


def _setting(run: dict) -> tuple[int, bool, str]:
    """What a run measured besides its size: Beam workers, whether Transform computed statistics (runs
    saved before the option existed did), and the input format (CSV before the option existed)."""
    return run["workers"], run.get("transform_statistics", True), run.get("input", "csv")


def _describe(setting: tuple[int, bool, str]) -> str:
    workers, statistics, input_format = setting
    return (f"{workers} worker" + ("s" if workers > 1 else "") + (", Transform statistics" if statistics else "")
            + (", TFRecord input" if input_format == "tfrecord" else ""))


def _growth_notes(runs: list[dict]) -> list[str]:
    """How time grows with rows: the exponent k in seconds ~ rows^k between the smallest and largest
    measured size (1 = linear); with one size only, a linear extrapolation, labelled as one."""
    import math

    notes = []
    for setting in sorted({_setting(run) for run in runs}):
        mine = sorted((r for r in runs if _setting(r) == setting), key=lambda r: r["rows"])
        small, large = mine[0], mine[-1]
        if small is large:
            per_row = small["total_seconds"] / small["rows"]
            notes.append(f"{_describe(setting)}: only {small['rows']:,} rows measured; a LINEAR EXTRAPOLATION (not a "
                         f"measurement) of its pipeline time gives {per_row * 1e6 / 60:.0f} min at 1M rows and "
                         f"{per_row * 5e6 / 3600:.1f} h at 5M rows (high: fixed start-up costs scale too)")
            continue
        exponents = ", ".join(
            f"{name} {math.log(large['component_seconds'][name] / small['component_seconds'][name]) / math.log(large['rows'] / small['rows']):.2f}"
            for name in small["component_seconds"] if small["component_seconds"][name] >= 1.0
        )
        notes.append(f"{_describe(setting)}, growth exponent k (seconds ~ rows^k) from {small['rows']:,} to "
                     f"{large['rows']:,} rows: {exponents}")
    return notes


def _run_child(rows: int, workers: int, output_dir: str, transform_statistics: bool, input_format: str) -> dict:
    """One run in a fresh process; its progress lines pass through as they come."""
    command = [sys.executable, "-m", "benchmarks.pipeline.scale", "--one", "--rows", str(rows),
               "--workers", str(workers), "--output_dir", output_dir, "--input", input_format]
    if transform_statistics:
        command.append("--transform_statistics")
    result = None
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
            else:
                print(f"{rows:,} rows, {workers} worker(s): {line}", end="", flush=True)
    if child.returncode != 0 or result is None:
        raise RuntimeError(f"the run with {rows} rows and {workers} worker(s) failed ({child.returncode})")
    return result


def _save(runs: list[dict], args) -> None:
    """Saves these runs together with earlier ones of other sizes or worker counts, so sizes can be added
    one invocation at a time."""
    from benchmarks.report import RESULTS, save

    measured = {(run["rows"], *_setting(run)) for run in runs}
    earlier = RESULTS / "pipeline_scale.json"
    if earlier.exists():
        runs = [r for r in json.loads(earlier.read_text())["runs"] if (r["rows"], *_setting(r)) not in measured] + runs
    runs.sort(key=lambda run: (run["rows"], *_setting(run)))
    table = [["rows", "DirectRunner", "component", "seconds", "rows/s", "peak RSS (GiB)"]]
    for run in runs:
        mode = _describe(_setting(run))
        for name in run["component_seconds"]:
            seconds = run["component_seconds"][name]
            table.append([f"{run['rows']:,}", mode, name, f"{seconds:.1f}", f"{run['rows'] / seconds:,.0f}",
                          f"{run['peak_rss_bytes'].get(name, 0) / 2**30:.2f}"])
        if run.get("input") == "tfrecord":
            table.append([f"{run['rows']:,}", mode, "writing the TFRecords (before the pipeline, not in its total)",
                          f"{run['tfrecord_write_seconds']:.1f}", f"{run['rows'] / run['tfrecord_write_seconds']:,.0f}",
                          ""])
        total = "**pipeline total**" + ("" if run.get("input") == "tfrecord" else " (with data generation)")
        table.append([f"{run['rows']:,}", mode, total,
                      f"{run['total_seconds']:.1f}", f"{run['rows'] / run['total_seconds']:,.0f}",
                      f"{run['overall_peak_rss_bytes'] / 2**30:.2f}"])
    loads = ", ".join(f"{run['rows']:,} rows {_describe(_setting(run))}: {run['load_average_before_after'][0][0]:.1f}"
                      f" -> {run['load_average_before_after'][1][0]:.1f}" for run in runs)
    save("pipeline_scale", {
        "title": "Pipeline scale: Criteo-shaped rows through every component, DirectRunner 1 vs 2 workers",
        "command": ".venv/bin/python -m benchmarks.pipeline.scale --rows "
                   + " ".join(str(r) for r in sorted({run["rows"] for run in runs}))
                   + " --workers " + " ".join(str(w) for w in sorted({run["workers"] for run in runs}))
                   + (" [--input tfrecord for the TFRecord rows]" if any(r.get("input") == "tfrecord" for r in runs)
                      else ""),
        "notes": [
            "data: zoo.data.criteo synthetic rows (13 counts, 26 categoricals), 4:1 hash split; deepfm "
            f"{HPARAMS}, batch {BATCH_SIZE}, Trainer = one epoch of the train split; LocalDagRunner, fresh root",
            "1 worker: --direct_running_mode=in_memory; 2 workers: --direct_running_mode=multi_processing "
            "--direct_num_workers=2 (every Beam job: ExampleGen, StatisticsGen, Transform, Evaluator)",
            "peak RSS: the pipeline process plus its Beam worker processes, sampled every 0.5 s while the component ran",
            "Transform statistics off in these runs (the benchmark's default; --transform_statistics turns them "
            "on, and a row says so when they were)",
            f"1-minute load average at the start and end of each run (2 cores; this run's own work included): {loads}",
            *_growth_notes(runs),
        ],
        "table": table,
        "runs": runs,
    })


if __name__ == "__main__":
    main()
