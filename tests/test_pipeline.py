"""The TFX pipeline end to end on a small real MovieLens slice, then serving what it pushed; a worse
model against the blessed baseline; the run history and the HTML report."""
from __future__ import annotations

import base64
import dataclasses
import pathlib

import numpy as np
import pytest

from pipelines.config import load_config
from pipelines.run import run_pipeline
from pipelines.runs import list_runs

from zoo.backend import tf
from zoo.data import load_ctr
from zoo.data.from_schema import to_example

pytestmark = pytest.mark.slow
REPO = pathlib.Path(__file__).resolve().parent.parent
COMPONENTS = {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate", "Transform",
              "LatestBlessedModelResolver", "Trainer", "Evaluator", "ServingWarmup", "Pusher"}


@pytest.fixture(scope="module")
def small_config(movielens_dir, tmp_path_factory):
    config = load_config(REPO / "configs" / "movielens_ctr.yaml",
                         output_dir=str(tmp_path_factory.mktemp("pipeline")))
    return config.replace(
        data=dataclasses.replace(config.data, path=str(movielens_dir), download=False,
                                 fallback_to_synthetic=False, max_rows=3000),
        model=dataclasses.replace(config.model, hparams={"embedding_dim": 8, "hidden_units": [16]}),
        training=dataclasses.replace(config.training, train_steps=40, eval_steps=4, batch_size=128),
        evaluation=dataclasses.replace(config.evaluation, min_auc=0.5, baseline=True, slices=("weekday",)),
        beam_pipeline_args=("--direct_running_mode=in_memory",),
    )


@pytest.fixture(scope="module")
def run(small_config):
    lines = []
    summary = run_pipeline(small_config, echo=lines.append)
    return summary, lines


@pytest.fixture(scope="module")
def worse_run(run, small_config):
    """A model trained for one step, judged against the blessed model of ``run``."""
    worse = small_config.replace(training=dataclasses.replace(small_config.training, train_steps=1))
    return run_pipeline(worse, echo=lambda line: None)


def test_every_component_ran_and_reported_progress(run):
    summary, lines = run
    assert set(summary.component_seconds) == COMPONENTS
    assert "MovieLens latest-small" in summary.data and "3,000 ratings" in summary.data
    for name in COMPONENTS:
        assert f"[{name}] running" in lines and any(line.startswith(f"[{name}] done in") for line in lines)


def test_direct_runner_in_memory_runs_every_beam_job_in_this_process(run, small_config):
    log = (pathlib.Path(small_config.output_dir) / "logs" / "pipeline.log").read_text()
    assert "Transform" in log
    # Beam's FnApiRunner starts gRPC control servers only for workers outside this process.
    assert "fn_api_runner.worker_handlers: starting control server" not in log


def test_evaluator_measured_held_out_data_and_blessed_the_model(run):
    summary, _ = run
    assert summary.blessed
    assert 0.5 < summary.metrics["auc"] < 1.0
    assert 0 < summary.metrics["binary_crossentropy"] < 1.0
    assert 300 < summary.metrics["example_count"] < 900  # the ~20% hash-split eval share of 3,000


def test_pusher_wrote_a_tf_serving_layout(run, small_config):
    summary, _ = run
    pushed = pathlib.Path(summary.pushed_path)
    assert pushed.parent == pathlib.Path(small_config.serving_root) / small_config.serving_model_name
    assert pushed.name.isdigit() and (pushed / "saved_model.pb").is_file()


def _real_examples(movielens_dir, count=8):
    frame = load_ctr(movielens_dir).iloc[-count:]  # the latest ratings: outside the 3,000-row slice
    rows = []
    for record in frame.to_dict("records"):
        row = {k: v for k, v in record.items() if k != "clicked" and not (k == "release_year" and v is None)}
        row = {k: (int(v) if isinstance(v, (np.integer, int)) else v) for k, v in row.items() if v == v}
        rows.append(row)
    return [to_example(r).SerializeToString() for r in rows]


def test_zoo_serve_predictions_match_the_in_process_model(run, small_config, movielens_dir):
    from pipelines.demo import http_json, served

    summary, _ = run
    examples = _real_examples(movielens_dir)
    signature = tf.saved_model.load(summary.pushed_path).signatures["serving_default"]
    (expected,) = signature(examples=tf.constant(examples)).values()
    body = {"signature_name": "serving_default",
            "instances": [{"b64": base64.b64encode(e).decode()} for e in examples]}
    base_path = str(pathlib.Path(summary.pushed_path).parent)
    with served(small_config.serving_model_name, base_path) as (ready, url):
        assert ready.startswith(f"serving {small_config.serving_model_name} version {pathlib.Path(summary.pushed_path).name}")
        predictions = np.array(http_json(f"{url}/v1/models/{small_config.serving_model_name}:predict", body)["predictions"])
    assert predictions.shape == (len(examples), 1)
    np.testing.assert_allclose(predictions, expected.numpy(), atol=1e-6)


def test_the_pushed_model_warms_up_on_raw_examples_and_regresses(run, small_config, movielens_dir, caplog):
    from tensorflow_serving.apis import prediction_log_pb2

    from pipelines.demo import http_json
    from serving.codec import example_to_json
    from serving.server import start_server

    summary, _ = run
    warmup = pathlib.Path(summary.pushed_path, "assets.extra", "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in tf.compat.v1.io.tf_record_iterator(str(warmup))]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "classify_log", "regress_log"] * 4
    (first, *_) = tf.make_ndarray(logs[0].predict_log.request.inputs["examples"])
    assert {"user_id", "movie_id", "hour"} <= set(tf.train.Example.FromString(first).features.feature)  # raw columns

    examples = _real_examples(movielens_dir)
    (expected,) = tf.saved_model.load(summary.pushed_path).signatures["serving_default"](
        examples=tf.constant(examples)).values()
    name = small_config.serving_model_name
    with caplog.at_level("INFO", logger="serving.model_manager"):
        with start_server(name, str(pathlib.Path(summary.pushed_path).parent)) as server:
            body = {"signature_name": "regress", "examples": [example_to_json(e) for e in examples]}
            regressed = http_json(f"{server.url}/v1/models/{name}:regress", body)["results"]
    assert "replayed 12 warm-up requests" in caplog.text
    np.testing.assert_allclose(regressed, expected.numpy()[:, 0], atol=1e-6)


def test_corrupted_rows_stop_the_run_before_training_and_keep_the_served_model(run, small_config, tmp_path):
    from pipelines.gates import DataAnomaliesError

    summary, _ = run
    csv_path = pathlib.Path(small_config.output_dir) / "data" / "data.csv"
    lines = csv_path.read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    hour, user = header.index("hour"), header.index("user_id")
    for i in range(0, len(rows), 40):  # 2.5% out-of-range hours, 2.5% missing required user ids
        rows[i][hour] = "99"
        rows[i + 20][user] = ""
    corrupted = tmp_path / "corrupted"
    corrupted.mkdir()
    (corrupted / "data.csv").write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    config = small_config.replace(data=dataclasses.replace(small_config.data, source="csv", path=str(corrupted)))
    progress = []
    with pytest.raises(DataAnomaliesError) as error:
        run_pipeline(config, echo=progress.append)
    report = str(error.value)
    assert "hour" in report and "user_id" in report and "[train]" in report
    assert "[Transform] running" not in progress and "[Trainer] running" not in progress
    (report_line,) = [line for line in progress if line.startswith("report: ")]
    page = pathlib.Path(report_line.removeprefix("report: ")).read_text()
    assert "The run stopped" in page and "[train] hour" in page  # the anomalies, in the stopped run's report
    versions = list((pathlib.Path(small_config.serving_root) / small_config.serving_model_name).iterdir())
    assert versions == [pathlib.Path(summary.pushed_path)]  # the blessed model is still the only one


def test_a_worse_model_is_not_blessed_against_the_baseline_nor_pushed(run, worse_run, small_config):
    summary, _ = run
    (outcome,) = worse_run.models
    assert outcome.baseline_metrics["auc"] == pytest.approx(summary.metrics["auc"])  # the blessed model
    assert outcome.metrics["auc"] < summary.metrics["auc"]
    assert not worse_run.blessed and worse_run.pushed_path is None
    assert any("against the baseline" in failure and failure.startswith("auc") for failure in outcome.failures)
    states = {run.run_id: run for run in list_runs(small_config.metadata_path, small_config.pipeline_name)}
    states = states[worse_run.run_id].states()
    assert states["Transform"] == "CACHED" and states["Trainer"] == states["Evaluator"] == "COMPLETE"
    versions = list((pathlib.Path(small_config.serving_root) / small_config.serving_model_name).iterdir())
    assert versions == [pathlib.Path(summary.pushed_path)]


def test_the_report_shows_data_training_evaluation_and_the_decision(run, small_config):
    summary, _ = run
    page = pathlib.Path(summary.report_path).read_text()
    for section in ("Data statistics", "Anomalies", "Training curves", "Held-out evaluation", "Per slice",
                    "Config", "<svg", "ROC", "Calibration"):
        assert section in page, section
    assert "weekday=" in page and "user_id" in page and "batch_loss" in page
    assert "<span class='ok'>blessed</span>" in page and summary.pushed_path in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch: opens offline


def test_the_report_of_the_worse_model_says_why(worse_run):
    page = pathlib.Path(worse_run.report_path).read_text()
    assert "not blessed" in page and "Why it was not blessed" in page and "against the baseline" in page
    assert "Baseline (the latest blessed model)" in page
    assert "nothing (the serving directory is unchanged)" in page


def test_zoo_pipeline_runs_and_report(run, worse_run, small_config, capsys):
    from zoo.cli import main

    summary, _ = run
    argv = [str(REPO / "configs" / "movielens_ctr.yaml"), "--output_dir", small_config.output_dir]
    assert main(["pipeline", "runs", *argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(line for line in lines if line.startswith(summary.run_id))
    worse = next(line for line in lines if line.startswith(worse_run.run_id))
    assert f"{summary.metrics['auc']:.4f}" in first and " yes " in first and summary.pushed_path in first
    assert f"{worse_run.metrics['auc']:.4f}" in worse and " no " in worse
    report = pathlib.Path(summary.report_path)
    report.unlink()
    assert main(["pipeline", "report", argv[0], summary.run_id, *argv[1:]]) == 0
    assert capsys.readouterr().out.strip() == str(report) and "Training curves" in report.read_text()


def test_a_run_killed_in_trainer_resumes_and_pushes_one_complete_version(run, worse_run, small_config, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from pipelines.config import dump_config

    summary, _ = run
    # A new model (more steps) that the Evaluator blesses whatever its AUC: this test is about resuming.
    config = small_config.replace(
        training=dataclasses.replace(small_config.training, train_steps=60),
        evaluation=dataclasses.replace(small_config.evaluation, change_threshold=1.0),
    )
    (tmp_path / "config.yaml").write_text(dump_config(config))
    killed = subprocess.Popen([sys.executable, "-m", "zoo.cli", "pipeline", "run", str(tmp_path / "config.yaml")],
                              stdout=subprocess.PIPE, text=True)
    try:
        for line in killed.stdout:
            if line.startswith("[Trainer] running"):
                break
        for _ in range(300):  # until ML Metadata records the Trainer's execution as running
            if _latest_states(config).get("Trainer") == "RUNNING":
                break
            time.sleep(0.5)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    resumed = run_pipeline(config, echo=lambda line: None)
    runs = list_runs(config.metadata_path, config.pipeline_name)
    assert runs[-2].states()["Trainer"] == "RUNNING"  # the killed run, as ML Metadata last saw it
    states = runs[-1].states()
    assert all(states[name] == "CACHED" for name in ("CsvExampleGen", "StatisticsGen", "Transform"))
    assert states["Trainer"] == states["Evaluator"] == states["Pusher"] == "COMPLETE"
    assert resumed.blessed
    serving = pathlib.Path(config.serving_root) / config.serving_model_name
    assert sorted(serving.iterdir()) == sorted([pathlib.Path(summary.pushed_path), pathlib.Path(resumed.pushed_path)])
    assert (pathlib.Path(resumed.pushed_path) / "saved_model.pb").is_file()
    assert (pathlib.Path(resumed.pushed_path) / "variables" / "variables.index").is_file()


def _latest_states(config) -> dict[str, str]:
    """The component states of the latest run, or {} while SQLite is locked by the run writing to it."""
    from ml_metadata import errors

    try:
        return list_runs(config.metadata_path, config.pipeline_name)[-1].states()
    except errors.StatusError:
        return {}
