"""What happens between a trained model and the serving directory.

``ServingWarmup`` copies the Trainer's SavedModel and adds TF Serving warm-up requests built from real
raw examples of the eval split (the Trainer itself only sees transformed examples). ``AtomicPusher``
is TFX's Pusher with one change: it copies a version into a staging folder beside its final place
and renames it in, so a model server polling the base directory never sees a half-copied version,
even when the run is killed during the copy. TFX's own Pusher copies file by file into the final
folder and only writes ``saved_model.pb`` last.
"""

import os
import time

from absl import logging
from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.types.standard_artifacts import Examples, Model
from tfx.utils import io_utils, path_utils, proto_utils

# No `from __future__ import annotations` here: TFX reads the @component signature's real types.
STAGING_PREFIX = ".staging-"  # not a number, so TF Serving and `zoo serve` never load it
PUSHED_FROM = os.path.join("assets.extra", "zoo_pushed_from")  # in each version: the model it was copied from


def read_split(split_uri: str, count: int = -1) -> list[bytes]:
    """The first ``count`` (-1: all) serialized tf.Examples of an ExampleGen split directory
    (``.../Split-eval``; ExampleGen writes gzipped TFRecords)."""
    from zoo.backend import tf

    files = sorted(fileio.glob(os.path.join(split_uri, "*")))
    if not files:
        raise ValueError(f"no examples in {split_uri}")
    compression = "GZIP" if files[0].endswith(".gz") else ""
    records = tf.data.TFRecordDataset(files, compression_type=compression).take(count)
    return [record.numpy() for record in records]


def read_raw_examples(examples: Examples, split: str, count: int) -> list[bytes]:
    """The first ``count`` serialized tf.Examples of ``split`` of an Examples artifact."""
    return read_split(artifact_utils.get_split_uri([examples], split), count)


@component
def ServingWarmup(model: InputArtifact[Model], examples: InputArtifact[Examples], warmed_model: OutputArtifact[Model],
                  split: Parameter[str] = "eval", num_examples: Parameter[int] = 32) -> None:
    """The model with ``assets.extra/tf_serving_warmup_requests`` from ``num_examples`` raw examples."""
    from pipelines.export import write_warmup_requests

    target = path_utils.serving_model_dir(warmed_model.uri)
    io_utils.copy_dir(path_utils.serving_model_path(model.uri), target)
    path = write_warmup_requests(target, read_raw_examples(examples, split, num_examples))
    logging.info("warm-up requests from %d %s examples: %s", num_examples, split, path)


class AtomicPusherExecutor(pusher_executor.Executor):
    """Pushes to ``<base_directory>/<unix time>`` through ``<base_directory>/.staging-<unix time>``."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("AtomicPusher pushes to a file system destination only")
        serving_path, version = push_version(model_path, destination.filesystem.base_directory,
                                             str(int(time.time())))
        io_utils.copy_dir(model_path, model_push.uri)  # the pushed model's archive, as TFX's Pusher keeps it
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)


def push_version(model_path: str, base: str, version: str) -> tuple[str, str]:
    """Puts the SavedModel at ``model_path`` in place as ``<base>/<version>`` and returns that path and
    version, unless the newest version there came from the same model: then that one is returned.

    Each version records its source in ``assets.extra/zoo_pushed_from``. An unchanged re-run with a
    baseline re-blesses the cached model (the resolver now gives it as its own baseline, so the Evaluator
    re-runs); pushing a copy would only make servers reload the model they serve.
    """
    from serving.model_manager import discover_versions  # the versions a server would load

    versions = discover_versions(base) if fileio.exists(base) else {}
    newest = max(versions, default=None)
    if newest is not None and _pushed_from(versions[newest]) == model_path:
        logging.info("version %d of %s is this model already; not pushing a copy", newest, base)
        return versions[newest], str(newest)
    serving_path = os.path.join(base, version)
    if fileio.exists(serving_path):  # the same second: TFX's Pusher skips the copy too
        logging.info("%s already exists, skipping the copy", serving_path)
        return serving_path, version
    staging = stage(model_path, base, version)
    fileio.makedirs(os.path.dirname(os.path.join(staging, PUSHED_FROM)))
    with fileio.open(os.path.join(staging, PUSHED_FROM), "w") as stream:
        stream.write(model_path)
    fileio.rename(staging, serving_path)
    logging.info("model written to serving path %s", serving_path)
    return serving_path, version


def _pushed_from(version_path: str) -> str | None:
    path = os.path.join(version_path, PUSHED_FROM)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as stream:
        return stream.read()


def stage(model_path: str, base: str, version: str) -> str:
    """Copies the model into a fresh staging folder under ``base``; leftovers of killed pushes go first."""
    fileio.makedirs(base)
    for leftover in fileio.glob(os.path.join(base, STAGING_PREFIX + "*")):
        fileio.rmtree(leftover)
    staging = os.path.join(base, STAGING_PREFIX + version)
    io_utils.copy_dir(model_path, staging)
    return staging


class AtomicPusher(tfx.components.Pusher):
    """TFX's Pusher (same inputs, outputs and ML Metadata records) with ``AtomicPusherExecutor``."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)


def atomic_pusher(model, model_blessing, base_directory: str) -> AtomicPusher:
    """Pushes ``model`` (when ``model_blessing`` says so, or always when it is None) under ``base_directory``."""
    return AtomicPusher(model=model, model_blessing=model_blessing, push_destination=tfx.proto.PushDestination(
        filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base_directory)))
