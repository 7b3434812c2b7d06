"""Runs a pipeline with the orchestrator that ``runner`` in the config names.

- ``local`` (default): ``LocalDagRunner``, components one after another in this process.
- ``beam``: ``BeamDagRunner``, components as the steps of a Beam pipeline.
- ``kubeflow_v2``: compiles the pipeline into a Kubeflow Pipelines / Vertex AI Pipelines job spec
  (``<output_dir>/<pipeline_name>_pipeline.json``) without running it; the cluster runs it.

Whatever the orchestrator, ``beam_pipeline_args`` (``tfx.dsl.Pipeline(beam_pipeline_args=...)``)
choose where the components' own Beam jobs run: Beam's DirectRunner on this machine by default
(``--direct_running_mode=in_memory|multi_processing --direct_num_workers=N``), or Flink, Spark,
Dataflow, or any portable runner (see the README).
"""
from __future__ import annotations

import os
import time
from typing import Callable, Mapping

from pipelines import periodic
from pipelines.config import PipelineConfig

#: The container image of the Kubeflow V2 components: TFX's own plus this package (see the README).
KUBEFLOW_IMAGE_ENV = "ZOO_KUBEFLOW_IMAGE"
DEFAULT_KUBEFLOW_IMAGE = "gcr.io/tfx-oss-public/tfx:1.16.0"
#: The log messages (with the component id as the argument) that LocalDagRunner and BeamDagRunner
#: write when a component starts and finishes.
STARTED_MESSAGES = ("Component %s is running.", "node %s is running.")
FINISHED_MESSAGES = ("Component %s is finished.", "node %s is finished.")


def kubeflow_spec_path(config: PipelineConfig) -> str:
    return os.path.join(config.output_dir, f"{config.pipeline_name}_pipeline.json")


def make_runner(config: PipelineConfig):
    from tfx import v1 as tfx

    if config.runner == "local":
        return tfx.orchestration.LocalDagRunner()
    if config.runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner  # not in tfx.v1's public API

        return BeamDagRunner()
    if config.runner == "kubeflow_v2":
        runner_config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=os.environ.get(KUBEFLOW_IMAGE_ENV, DEFAULT_KUBEFLOW_IMAGE)
        )
        path = kubeflow_spec_path(config)
        return tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=runner_config, output_dir=os.path.dirname(path), output_filename=os.path.basename(path)
        )
    raise ValueError(f"unknown runner {config.runner!r}")


def run(config: PipelineConfig, pipeline) -> str | None:
    """Runs ``pipeline`` (or, for ``kubeflow_v2``, compiles it and returns the spec's path)."""
    set_dill_trace_level_only_on_change()
    package_tfx_only_for_remote_workers()
    size_state_cache_entries_without_rescanning_modules()
    make_runner(config).run(pipeline)
    return kubeflow_spec_path(config) if config.runner == "kubeflow_v2" else None


def set_dill_trace_level_only_on_change() -> None:
    """Beam's pickler turns dill's tracing off (``dill.dill._trace(False)``) after every pickle and
    unpickle, about 13,000 times in a small pipeline run, and each call sets the dill logger's level,
    which clears the cache of every logger in the process (about 1,000 with TensorFlow and TFX loaded):
    3.7 s of one core per run. Setting the level only when it changes keeps what dill does."""
    import logging

    from dill import _dill as module  # what Beam calls dill.dill
    if getattr(module._trace, "level_only_on_change", False):
        return
    set_level = module._trace

    def trace(boolean: bool) -> None:
        if module.log.level != (logging.INFO if boolean else logging.WARN):
            set_level(boolean)

    trace.level_only_on_change = True
    module._trace = trace


def size_state_cache_entries_without_rescanning_modules() -> None:
    """Beam's state cache weighs every side input it caches with ``objsize``, which first collects the
    ids of every loaded module's globals (about 9,400 modules with TensorFlow and TFX: 3.4 ms a call)
    so as not to count them. A Transform reads its analyzers' side inputs thousands of times; at 30k
    rows that scan took 40 s of its 229 s. The module globals are collected again only when the set of
    loaded modules grows, and skipped by the traversal's filter, so every value weighs what it did."""
    import sys

    import objsize
    from apache_beam.runners.worker import statecache
    from objsize import traverse

    if getattr(statecache.get_deep_size, "module_globals_cached", False):
        return
    cached = {"modules": -1, "globals": (), "ids": frozenset()}

    def module_globals_ids() -> frozenset:
        if cached["modules"] != len(sys.modules):
            cached["modules"] = len(sys.modules)
            cached["globals"] = tuple(traverse._iter_modules_globals())  # held, so no id is reused
            cached["ids"] = frozenset(map(id, cached["globals"]))
        return cached["ids"]

    def get_deep_size(*objs) -> int:
        excluded = module_globals_ids()
        return objsize.get_deep_size(
            *objs, get_size_func=statecache._size_func, get_referents_func=statecache._get_referents_func,
            filter_func=lambda o: id(o) not in excluded and statecache._filter_func(o),
            exclude_modules_globals=False)

    get_deep_size.module_globals_cached = True
    statecache.get_deep_size = get_deep_size


def runs_on_this_machine(beam_pipeline_args) -> bool:
    """Whether Beam jobs with these arguments run their workers from this Python environment: the
    DirectRunner (any mode), or a portable runner with the LOOPBACK environment."""
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(flags=list(beam_pipeline_args)).get_all_options()
    if options.get("runner") in (None, "direct", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner"):
        return True
    return options.get("runner") == "PortableRunner" and options.get("environment_type") == "LOOPBACK"


def package_tfx_only_for_remote_workers() -> None:
    """TFX builds an sdist of its own installation for every Beam component's job (``--extra_package``,
    about 2 s each: 6 to 7 s of a small pipeline run) so that remote workers can install it. Workers
    that run from this environment (``runs_on_this_machine``) never install it; for them it is skipped."""
    from tfx.utils import dependency_utils

    if getattr(dependency_utils.make_beam_dependency_flags, "remote_only", False):
        return
    add_flags = dependency_utils.make_beam_dependency_flags

    def make_beam_dependency_flags(beam_pipeline_args):
        return beam_pipeline_args if runs_on_this_machine(beam_pipeline_args) else add_flags(beam_pipeline_args)

    make_beam_dependency_flags.remote_only = True
    dependency_utils.make_beam_dependency_flags = make_beam_dependency_flags


def heartbeat(started: Mapping[str, float], finished: Mapping[str, float], echo: Callable[[str], None],
              interval: float = 60.0) -> periodic.every:
    """While it is open, says every ``interval`` seconds which components are still running, so
    long Beam stages (minutes at millions of rows) are not silent.

    ``started`` and ``finished`` map component ids to start times (``time.monotonic()``) and
    durations; the progress handler fills them as the runner logs.
    """
    def beat() -> None:
        now = time.monotonic()
        for name, start in list(started.items()):
            if name not in finished:
                echo(f"[{name}] still running, {now - start:.0f}s")

    return periodic.every(interval, beat, name="pipeline-heartbeat")
