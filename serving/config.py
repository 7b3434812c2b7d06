"""What to serve: TF Serving's ``models.config``, version policies and batching parameters.

``models.config`` is a text-format ``ModelServerConfig`` (the proto in ``tensorflow-serving-api``), so a
file written by ``write_models_config`` loads in ``tensorflow_model_server --model_config_file`` too.
The batching parameters file is a text-format ``BatchingParameters``; that proto is not shipped in
``tensorflow-serving-api``, so its fields are declared here with TF Serving's names and numbers.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Iterable, Mapping

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import ModelLoadError

# Names clients put in URLs; anything else (slashes, "..", spaces) is refused when the config is read.
MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
MODEL_CONFIG_FILE = "models.config"


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions found on disk to serve: ``latest`` N, ``all``, or ``specific`` ones."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: Iterable[int]) -> set[int]:
        available = sorted(available)
        if self.kind == "all":
            return set(available)
        if self.kind == "specific":
            return set(self.versions) & set(available)
        return set(available[-self.num_versions:]) if self.num_versions > 0 else set()

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        """``latest``, ``latest:N``, ``all`` or ``specific:V1,V2`` (the command-line spelling)."""
        kind, _, arguments = text.partition(":")
        try:
            if kind == "latest":
                return cls("latest", int(arguments or 1))
            if kind == "all" and not arguments:
                return cls("all")
            if kind == "specific":
                return cls("specific", versions=tuple(int(v) for v in arguments.split(",")))
        except ValueError:
            pass
        raise ValueError(f"version policy {text!r} is not latest[:N], all or specific:V1,V2")

    def to_proto(self, policy) -> None:
        if self.kind == "all":
            policy.all.SetInParent()
        elif self.kind == "specific":
            policy.specific.versions.extend(self.versions)
        else:
            policy.latest.num_versions = self.num_versions

    @classmethod
    def from_proto(cls, policy) -> "VersionPolicy":
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return cls("all")
        if which == "specific":
            return cls("specific", versions=tuple(policy.specific.versions))
        if which == "latest":
            return cls("latest", policy.latest.num_versions or 1)
        return cls()  # TF Serving's default: the latest version only


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One served model: its URL name, the directory of its versions, policy and version labels."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if not MODEL_NAME.fullmatch(self.name):
            raise ModelLoadError(f"model name {self.name!r} must match {MODEL_NAME.pattern}")
        if not self.base_path:
            raise ModelLoadError(f"model {self.name!r} has no base_path")


def read_models_config(path: str) -> list[ModelSpec]:
    """The models of a text-format ``ModelServerConfig`` file; relative base paths are relative to it."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        with open(path, encoding="utf-8") as stream:
            text_format.Parse(stream.read(), config)
    except (OSError, text_format.ParseError) as error:
        raise ModelLoadError(f"cannot read model config {path!r}: {error}") from error
    specs = []
    for model in config.model_config_list.config:
        if model.model_platform not in ("", "tensorflow"):
            raise ModelLoadError(f"model {model.name!r}: only model_platform 'tensorflow' is served")
        base_path = model.base_path
        if "://" not in base_path:
            base_path = os.path.join(os.path.dirname(os.path.abspath(path)), base_path)
        specs.append(ModelSpec(model.name, base_path, VersionPolicy.from_proto(model.model_version_policy),
                               dict(model.version_labels)))
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ModelLoadError(f"model config {path!r} names a model twice: {names}")
    if not specs:
        raise ModelLoadError(f"model config {path!r} has no model_config_list entries")
    return specs


def models_config_text(specs: Iterable[ModelSpec]) -> str:
    config = model_server_config_pb2.ModelServerConfig()
    for spec in specs:
        model = config.model_config_list.config.add(name=spec.name, base_path=spec.base_path,
                                                    model_platform="tensorflow")
        spec.policy.to_proto(model.model_version_policy)
        for label, version in sorted(spec.labels.items()):
            model.version_labels[label] = version
    return text_format.MessageToString(config)


def discover_models(serving_root: str, policy: VersionPolicy, base_path_prefix: str | None = None) -> list[ModelSpec]:
    """One spec per directory of ``serving_root`` holding integer version directories.

    ``base_path_prefix`` replaces ``serving_root`` in the written paths (e.g. ``/models`` when the root
    is mounted there in a TF Serving container).
    """
    root = os.path.abspath(serving_root)
    specs = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path) and MODEL_NAME.fullmatch(name) and any(
            entry.isdigit() and os.path.isfile(os.path.join(path, entry, "saved_model.pb"))
            for entry in os.listdir(path)
        ):
            base = f"{base_path_prefix.rstrip('/')}/{name}" if base_path_prefix else path
            specs.append(ModelSpec(name, base, policy))
    if not specs:
        raise ModelLoadError(f"no models under {serving_root!r}: expected NAME/<version>/saved_model.pb")
    return specs


# ---------------------------------------------------------------------------------------------
# batching parameters


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's batching knobs (defaults as in its session_bundle_config.proto)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if getattr(self, field.name) < minimum:
                raise ValueError(f"batching parameter {field.name} must be >= {minimum}")


def _batching_parameters_class():
    """A message class for ``tensorflow.serving.BatchingParameters`` (the fields this server honours)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="zoo_serving/batching_parameters.proto", package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"], syntax="proto3")
    message = file.message_type.add(name="BatchingParameters")
    for number, name in ((1, "max_batch_size"), (2, "batch_timeout_micros"), (3, "max_enqueued_batches"),
                         (4, "num_batch_threads")):
        message.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                          type_name=".google.protobuf.Int64Value",
                          label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="thread_pool_name", number=5, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                      type_name=".google.protobuf.StringValue",
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="allowed_batch_sizes", number=6, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def parse_batching_parameters(text: str) -> BatchingParameters:
    """Reads TF Serving's text format, e.g. ``max_batch_size { value: 32 }``."""
    proto = _batching_parameters_class()()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as error:
        raise ValueError(f"cannot parse batching parameters: {error}") from error
    values = {field.name: getattr(proto, field.name).value
              for field in dataclasses.fields(BatchingParameters) if proto.HasField(field.name)}
    return BatchingParameters(**values)


def read_batching_parameters(path: str | None) -> BatchingParameters:
    if not path:
        return BatchingParameters()
    try:
        with open(path, encoding="utf-8") as stream:
            return parse_batching_parameters(stream.read())
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"batching parameters file {path!r}: {error}") from error
