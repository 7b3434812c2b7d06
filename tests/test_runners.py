"""Runners and scale: runner selection, Beam arguments, the Kubeflow V2 spec, DirectRunner's
multi-processing mode (its in-memory mode: tests/test_pipeline.py), Beam's portable runner,
BeamDagRunner, and training under MirroredStrategy."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pipelines import runners
from pipelines.config import ConfigError, load_config
from pipelines.inputs import prepare_input
from pipelines.pipeline import create_pipeline, example_gen_for
from pipelines.run import _captured_logs, _ComponentProgress, run_pipeline
from zoo.backend import tf

REPO = pathlib.Path(__file__).resolve().parent.parent
COMPONENTS = {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "AnomaliesGate", "Transform",
              "Trainer", "Evaluator", "ServingWarmup", "Pusher"}
MULTI_PROCESSING = ("--direct_running_mode=multi_processing", "--direct_num_workers=1")
# Same global batch, seed and data order: the 2-replica run differs only by float summation order,
# so its held-out metrics must agree closely with the one-device run.
MIRRORED_TOLERANCE = {"auc": 0.02, "binary_crossentropy": 0.02}


def _config(tmp_path, text=""):
    path = tmp_path / "c.yaml"
    path.write_text(f"pipeline_name: p\nschema: {REPO}/schemas/movielens_ctr.pbtxt\n"
                    f"output_dir: out\nserving_model_name: m\n{text}")
    return load_config(path)


def test_config_reads_runner_beam_args_and_strategy(tmp_path):
    config = _config(tmp_path, "runner: beam\nbeam_pipeline_args: [--runner=FlinkRunner, --parallelism=4]\n"
                               "training: {strategy: mirrored}\n")
    assert config.runner == "beam" and config.training.strategy == "mirrored"
    assert config.beam_pipeline_args == ("--runner=FlinkRunner", "--parallelism=4")
    assert _config(tmp_path).beam_pipeline_args == () and _config(tmp_path).training.strategy == "default"
    with pytest.raises(ConfigError, match="strategy must be one of"):
        _config(tmp_path, "training: {strategy: horovod}\n")
    with pytest.raises(ConfigError, match="runner must be one of"):
        _config(tmp_path, "runner: airflow\n")
    with pytest.raises(ConfigError, match=r"beam_pipeline_args\[1\] must be str"):
        _config(tmp_path, "beam_pipeline_args: [--a=1, 2]\n")


def test_remote_paths_are_kept_as_urls(tmp_path):
    config = _config(tmp_path, "").replace(output_dir="gs://bucket/zoo")
    assert config.pipeline_root == "gs://bucket/zoo/pipeline_root"
    path = tmp_path / "remote.yaml"
    path.write_text(f"pipeline_name: p\nschema: {REPO}/schemas/movielens_ctr.pbtxt\n"
                    "output_dir: gs://bucket/zoo\nserving_model_name: m\n")
    assert load_config(path).output_dir == "gs://bucket/zoo"


def test_beam_args_and_strategy_reach_the_pipeline(tmp_path):
    config = _config(tmp_path, "training: {strategy: mirrored}\n").replace(beam_pipeline_args=MULTI_PROCESSING)
    pipeline = create_pipeline(config, str(tmp_path / "csv"), (REPO / "schemas" / "movielens_ctr.pbtxt").read_text())
    assert pipeline.beam_pipeline_args == list(MULTI_PROCESSING)
    (trainer,) = [c for c in pipeline.components if c.id == "Trainer"]
    assert json.loads(trainer.exec_properties["custom_config"])["strategy"] == "mirrored"


def test_make_runner_picks_the_orchestrator(tmp_path):
    from tfx import v1 as tfx
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    config = _config(tmp_path)
    assert isinstance(runners.make_runner(config), tfx.orchestration.LocalDagRunner)
    assert isinstance(runners.make_runner(config.replace(runner="beam")), BeamDagRunner)
    assert isinstance(runners.make_runner(config.replace(runner="kubeflow_v2")),
                      tfx.orchestration.experimental.KubeflowV2DagRunner)


def test_kubeflow_v2_spec_is_written_and_names_every_component(tmp_path, monkeypatch):
    monkeypatch.setenv(runners.KUBEFLOW_IMAGE_ENV, "europe-docker.pkg.dev/p/zoo/zoo:1")
    monkeypatch.chdir(tmp_path)  # a gs:// path taken for a local one would show up here
    config = _config(tmp_path).replace(runner="kubeflow_v2", output_dir="gs://bucket/zoo",
                                       beam_pipeline_args=("--runner=DataflowRunner", "--region=europe-west1"))
    pipeline = create_pipeline(config, "gs://bucket/data", (REPO / "schemas" / "movielens_ctr.pbtxt").read_text())
    local = config.replace(output_dir=str(tmp_path / "compiled"))
    path = runners.run(local, pipeline)  # the spec goes to a local directory; the pipeline keeps its gs:// root
    assert path == str(tmp_path / "compiled" / "p_pipeline.json")
    job = json.loads(pathlib.Path(path).read_text())
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://bucket/zoo/pipeline_root"
    spec = job["pipelineSpec"]
    assert set(spec["root"]["dag"]["tasks"]) == COMPONENTS
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {"europe-docker.pkg.dev/p/zoo/zoo:1"}
    assert executors["Transform_executor"]["container"]["args"][-2:] == ["--runner=DataflowRunner",
                                                                         "--region=europe-west1"]
    assert not (tmp_path / "gs:").exists()


def test_heartbeat_names_only_unfinished_components():
    lines, beat = [], threading.Event()

    def echo(line):
        lines.append(line)
        beat.set()

    now = time.monotonic()
    with runners.heartbeat({"Transform": now - 90, "StatisticsGen": now - 200}, {"StatisticsGen": 30.0}, echo,
                           interval=0.01):
        assert beat.wait(timeout=60)
    assert lines and all(line.startswith("[Transform] still running, ") for line in lines)
    assert int(lines[0].split(", ")[1].rstrip("s")) >= 90


# --- real pipeline runs: a 3,000-rating MovieLens slice, 40 training steps ---------------------------------------


@pytest.fixture(scope="module")
def base_config(movielens_dir, tmp_path_factory):
    config = load_config(REPO / "configs" / "movielens_ctr.yaml", output_dir=str(tmp_path_factory.mktemp("runners")))
    return config.replace(
        data=dataclasses.replace(config.data, path=str(movielens_dir), download=False,
                                 fallback_to_synthetic=False, max_rows=3000),
        model=dataclasses.replace(config.model, hparams={"embedding_dim": 8, "hidden_units": [16]}),
        training=dataclasses.replace(config.training, train_steps=40, eval_steps=4, batch_size=128),
        evaluation=dataclasses.replace(config.evaluation, min_auc=0.5),
    )


def _run(config, tmp_path_factory, name, **changes):
    config = config.replace(output_dir=str(tmp_path_factory.mktemp(name)), **changes)
    lines = []
    summary = run_pipeline(config, echo=lines.append)
    return config, summary, lines


def _log(config) -> str:
    return (pathlib.Path(config.output_dir) / "logs" / "pipeline.log").read_text()


def _assert_complete(summary, lines):
    assert set(summary.component_seconds) == COMPONENTS
    for name in COMPONENTS:
        assert f"[{name}] running" in lines and any(line.startswith(f"[{name}] done in") for line in lines)
    assert summary.blessed and summary.pushed_path and 0.5 < summary.metrics["auc"] < 1.0


# Beam's FnApiRunner starts gRPC control servers only for workers outside this process (the in-memory
# mode, which never does, is tested in tests/test_pipeline.py).
SUBPROCESS_WORKERS = "fn_api_runner.worker_handlers: starting control server"


@pytest.mark.slow
def test_beam_dag_runner_with_direct_runner_multi_processing(base_config, tmp_path_factory):
    # Only the first two Beam components: each Beam job of a multi-processing run starts its own
    # worker processes, whose TensorFlow imports dominate on a small input. One worker is enough to show
    # that the components' code runs in another process (what the mode tests); two only add an import.
    from tfx import v1 as tfx

    config = base_config.replace(output_dir=str(tmp_path_factory.mktemp("multi_processing")), runner="beam",
                                 beam_pipeline_args=MULTI_PROCESSING)
    csv_dir = prepare_input(config, echo=lambda line: None).csv_dir
    full = create_pipeline(config, csv_dir, pathlib.Path(config.schema).read_text())
    # Fresh components: the full pipeline's ExampleGen also names its downstream nodes.
    from zoo.schema import load_schema, schema_features

    example_gen = example_gen_for(config, csv_dir, schema_features(load_schema(config.schema)))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name, pipeline_root=config.pipeline_root,
        components=[example_gen, statistics_gen],
        metadata_connection_config=full.metadata_connection_config, beam_pipeline_args=full.beam_pipeline_args,
    )
    log = pathlib.Path(config.output_dir) / "logs" / "pipeline.log"
    progress = _ComponentProgress(echo=lambda line: None)
    with _captured_logs(progress, log):
        runners.run(config, pipeline)
    assert set(progress.seconds) == {"CsvExampleGen", "StatisticsGen"}
    assert log.read_text().count(SUBPROCESS_WORKERS) >= 2  # one Beam job per component, each with workers
    statistics = pathlib.Path(config.pipeline_root, "StatisticsGen", "statistics")
    assert list(statistics.glob("*/Split-train/FeatureStats.pb")) and list(statistics.glob("*/Split-eval/*"))


@pytest.fixture(scope="module")
def portable_run(base_config, tmp_path_factory):
    # The portable runner ships the user code (preprocessing_fn, the schema in custom_config) to an
    # SDK harness through the job service, as Flink, Spark and Dataflow workers receive it.
    args = ("--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK")
    return _run(base_config, tmp_path_factory, "portable", beam_pipeline_args=args)


@pytest.mark.slow
def test_portable_runner_with_the_embedded_job_service(portable_run):
    config, summary, lines = portable_run
    _assert_complete(summary, lines)
    assert "PortableRunner" in _log(config)


_MIRRORED_RUN = """
import json, sys
import zoo
from zoo.backend import tf

cpu = tf.config.list_physical_devices("CPU")[0]  # two logical CPU devices, before TF initializes them
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pipelines.config import load_config
from pipelines.run import run_pipeline

overrides = json.loads(sys.argv[1])
config = load_config(overrides.pop("path"), output_dir=overrides.pop("output_dir"))
config = config.replace(**{k: type(getattr(config, k))(**v) if isinstance(v, dict) else v
                           for k, v in overrides.items()})
summary = run_pipeline(config, echo=lambda line: None)
print("RESULT " + json.dumps({"pushed_path": summary.pushed_path, "seconds": summary.component_seconds}))
"""


def _held_out_scores(pushed_path: str, examples: list[bytes], labels: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    serve = tf.saved_model.load(pushed_path).signatures["serving_default"]
    (probabilities,) = serve(examples=tf.constant(examples)).values()
    probabilities = probabilities.numpy()[:, 0].astype(np.float64)
    return {"auc": roc_auc_score(labels, probabilities), "binary_crossentropy": log_loss(labels, probabilities)}


@pytest.mark.slow
def test_mirrored_strategy_over_two_cpu_devices_matches_the_default_strategy(portable_run, read_eval_split):
    config, default, _ = portable_run
    as_dict = dataclasses.asdict(config)
    # The Evaluator and the warm-up are off in this run: both models are scored below on the same held-out
    # examples, which is the comparison the test is about, without a second portable-runner evaluation.
    overrides = {"path": str(REPO / "configs" / "movielens_ctr.yaml"), "output_dir": config.output_dir,
                 "beam_pipeline_args": list(config.beam_pipeline_args), "data": as_dict["data"],
                 "model": as_dict["model"], "evaluation": {**as_dict["evaluation"], "enabled": False},
                 "warmup_examples": 0, "training": {**as_dict["training"], "strategy": "mirrored"}}
    done = subprocess.run([sys.executable, "-c", _MIRRORED_RUN, json.dumps(overrides)], cwd=REPO, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    # Same pipeline root and Beam arguments: the cache serves ExampleGen..Transform; the Trainer, whose
    # strategy changed, and the Pusher run again, and the log (appended to) says how it trained.
    assert set(result["seconds"]) == COMPONENTS - {"Evaluator", "ServingWarmup"}
    assert "training with MirroredStrategy with 2 replica(s) in sync" in _log(config)
    assert result["pushed_path"] and result["pushed_path"] != default.pushed_path
    examples = read_eval_split(config, "CsvExampleGen")
    labels = np.array([tf.train.Example.FromString(e).features.feature["clicked"].int64_list.value[0]
                       for e in examples])
    default_scores = _held_out_scores(default.pushed_path, examples, labels)
    assert default_scores["auc"] == pytest.approx(default.metrics["auc"], abs=1e-3)  # the Evaluator's number
    mirrored_scores = _held_out_scores(result["pushed_path"], examples, labels)
    for name, tolerance in MIRRORED_TOLERANCE.items():
        assert abs(mirrored_scores[name] - default_scores[name]) < tolerance, (name, mirrored_scores, default_scores)


@pytest.mark.parametrize("task, cluster, chief", [
    (None, None, True),  # no cluster: a single Trainer
    ({"type": "chief", "index": 0}, {"chief": ["a:1"], "worker": ["b:1"]}, True),
    ({"type": "worker", "index": 0}, {"chief": ["a:1"], "worker": ["b:1"]}, False),
    ({"type": "worker", "index": 0}, {"worker": ["a:1", "b:1"]}, True),  # no chief: worker 0 leads
    ({"type": "worker", "index": 1}, {"worker": ["a:1", "b:1"]}, False),
])
def test_only_the_chief_writes_the_model(monkeypatch, task, cluster, chief):
    from pipelines import distribute

    if task is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert distribute.is_chief() is chief


def test_parameter_server_strategy_needs_ps_tasks(monkeypatch):
    from pipelines import distribute

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["localhost:1"], "worker": ["localhost:2"]},
                                                "task": {"type": "chief", "index": 0}}))
    with pytest.raises(ValueError, match="needs TF_CONFIG with a 'ps' job"):
        distribute.make_strategy("parameter_server")


def test_dill_trace_sets_the_logger_level_only_when_it_changes(monkeypatch):
    import logging

    from dill import _dill

    monkeypatch.setattr(_dill, "_trace", _dill._trace)  # the patch below is undone after the test
    runners.set_dill_trace_level_only_on_change()
    runners.set_dill_trace_level_only_on_change()  # once is enough: no patch of the patch
    logging.Logger.setLevel(_dill.log, logging.WARN)  # as Beam's dill pickler leaves it
    calls = []

    def set_level(level):
        calls.append(level)
        logging.Logger.setLevel(_dill.log, level)

    monkeypatch.setattr(_dill.log, "setLevel", set_level)
    for _ in range(3):
        _dill._trace(False)
    _dill._trace(True)
    assert _dill.log.level == logging.INFO
    _dill._trace(True)
    _dill._trace(False)
    assert _dill.log.level == logging.WARN
    assert calls == [logging.INFO, logging.WARN]


def test_state_cache_weighs_values_as_beam_does_and_scans_modules_only_when_they_change(monkeypatch):
    import types

    import objsize
    from apache_beam.runners.worker import statecache
    from objsize import traverse

    def stock(*values):  # Beam's statecache.get_deep_size, which an earlier pipeline run here may have patched
        return objsize.get_deep_size(*values, get_size_func=statecache._size_func,
                                     get_referents_func=statecache._get_referents_func,
                                     filter_func=statecache._filter_func)

    monkeypatch.setattr(statecache, "get_deep_size", stock)  # the patch below is undone after the test
    module = types.ModuleType("zoo_test_module")
    module.table = list(range(1000))  # a module's globals: shared, so weighed by neither
    values = [[list(range(100)) for _ in range(10)], {"a": b"x" * 1000, "b": (1.5, "y")}, np.zeros(1000),
              [vars(os), "beside a module's globals"], [vars(module), 7]]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    expected = [stock(value) for value in values]
    runners.size_state_cache_entries_without_rescanning_modules()
    runners.size_state_cache_entries_without_rescanning_modules()  # once is enough: no patch of the patch
    scans = []
    scan = traverse._iter_modules_globals
    monkeypatch.setattr(traverse, "_iter_modules_globals", lambda: scans.append(1) or scan())
    assert [statecache.get_deep_size(value) for value in values] == expected
    assert len(scans) == 1
    monkeypatch.delitem(sys.modules, module.__name__)
    assert statecache.get_deep_size(values[-1]) > expected[-1]  # no longer a module's: weighed
    assert len(scans) == 2


@pytest.mark.parametrize("args, local", [
    ((), True),
    (MULTI_PROCESSING, True),
    (("--runner=DirectRunner",), True),
    (("--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"), True),
    (("--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"), False),
    (("--runner=FlinkRunner", "--flink_master=localhost:8081"), False),
    (("--runner=DataflowRunner", "--project=p", "--region=europe-west1"), False),
])
def test_tfx_packages_itself_only_for_workers_outside_this_environment(monkeypatch, args, local):
    from tfx.utils import dependency_utils

    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags", dependency_utils.make_beam_dependency_flags)
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", lambda: "/tmp/tfx_ephemeral-1.16.0.tar.gz")
    assert runners.runs_on_this_machine(args) is local
    runners.package_tfx_only_for_remote_workers()
    expected = list(args) if local else [*args, "--extra_package=/tmp/tfx_ephemeral-1.16.0.tar.gz"]
    assert list(dependency_utils.make_beam_dependency_flags(list(args))) == expected
