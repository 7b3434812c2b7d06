"""The Trainer's ``tf.distribute`` strategy, chosen by ``training.strategy`` in the config.

- ``default``: TensorFlow's default strategy (one device, no distribution).
- ``mirrored``: ``MirroredStrategy``, synchronous data parallelism over this machine's GPUs, or
  over its logical CPU devices when it has no GPU and more than one CPU device is configured.
- ``multi_worker_mirrored``: ``MultiWorkerMirroredStrategy``; every worker runs the Trainer with
  its own ``TF_CONFIG`` (``{"cluster": {"chief": [...], "worker": [...]}, "task": {...}}``), as
  Vertex AI / Kubeflow training jobs set it.
- ``parameter_server``: ``ParameterServerStrategy`` for embedding tables too big for one worker:
  variables are sharded over the ``ps`` tasks of ``TF_CONFIG``; the Trainer process is the
  coordinator (``chief``), while ``worker`` and ``ps`` tasks only serve (:func:`serve_unless_coordinator`).

The global batch is ``training.batch_size`` for every strategy (each of N replicas sees 1/N of
it), so a config gives the same optimization whichever strategy runs it.
"""
from __future__ import annotations

import json
import os

from absl import logging

from zoo.backend import tf

# Shards of a parameter-server variable are at least this big, so small variables stay whole.
PS_MIN_SHARD_BYTES = 256 << 10


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=_local_devices())
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "parameter_server":
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        num_ps = len(resolver.cluster_spec().as_dict().get("ps", ()))
        if num_ps == 0:
            raise ValueError("training.strategy 'parameter_server' needs TF_CONFIG with a 'ps' job")
        partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
            min_shard_bytes=PS_MIN_SHARD_BYTES, max_shards=num_ps
        )
        return tf.distribute.ParameterServerStrategy(resolver, variable_partitioner=partitioner)
    raise ValueError(f"unknown strategy {name!r}")


def _local_devices() -> list[str] | None:
    """All GPUs (MirroredStrategy's own default), else every logical CPU device: MirroredStrategy
    would otherwise use only the first CPU."""
    if tf.config.list_logical_devices("GPU"):
        return None
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def describe(strategy: tf.distribute.Strategy) -> str:
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) in sync"


def task() -> tuple[str | None, int]:
    """This process's task type and index in ``TF_CONFIG`` (``(None, 0)`` without a cluster)."""
    spec = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return spec.get("type"), int(spec.get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the model: the chief, worker 0 of a cluster without a chief,
    or a process outside any cluster. Other workers must write elsewhere (their copy is the same)."""
    task_type, index = task()
    if task_type in (None, "chief"):
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    return task_type == "worker" and index == 0 and "chief" not in cluster


def serve_unless_coordinator(strategy_name: str) -> None:
    """Under ``parameter_server``, a ``worker`` or ``ps`` task runs a TF server until the job ends
    (the coordinator sends it the work); it never returns. Does nothing otherwise."""
    task_type, index = task()
    if strategy_name != "parameter_server" or task_type not in ("worker", "ps"):
        return
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    logging.info("serving as %s %d for the parameter-server coordinator", task_type, index)
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=task_type, task_index=index,
                                  protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()
