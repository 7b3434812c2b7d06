"""Finds and loads the versions of a model kept in TF Serving's layout.

A model lives under ``<model_base_path>/<version>/saved_model.pb`` where ``<version>`` is an integer
directory name; requests without a version go to the highest one, as in ``tensorflow_model_server``.
Paths go through ``tf.io.gfile`` so any file system TensorFlow can read (e.g. ``gs://``) works.
"""
import dataclasses
import logging
import os
from typing import Mapping

from google.protobuf.message import DecodeError
# The SavedModel proto has no tf.* alias; importing it is safe because serving/__init__ already
# ran zoo._env, so TensorFlow starts with the environment zoo.backend expects.
from tensorflow.core.protobuf import saved_model_pb2

from serving.errors import InvalidArgument, ModelLoadError, NotFound
from serving.signature import Signature
from zoo.backend import tf

SAVED_MODEL_FILE = "saved_model.pb"
SERVE_TAG = "serve"

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ServableVersion:
    """One loaded version of a model.

    ``signature_defs`` holds every SignatureDef of the serving MetaGraph exactly as stored in
    saved_model.pb (what the metadata API reports); ``signatures`` holds the callable ones.
    ``loaded`` keeps the restored object, and with it the variables, alive while it serves.
    """

    name: str
    version: int
    path: str
    signature_defs: Mapping[str, object]
    signatures: Mapping[str, Signature]
    loaded: object

    def signature(self, name: str) -> Signature:
        try:
            return self.signatures[name]
        except KeyError:
            raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def') from None


class Model:
    """All loaded versions of one model name."""

    def __init__(self, name: str, versions: Mapping[int, ServableVersion]):
        self.name = name
        self.versions = dict(sorted(versions.items()))

    @property
    def latest(self) -> ServableVersion:
        return self.versions[max(self.versions)]

    def get(self, version: int | None = None) -> ServableVersion:
        """The requested version, or the latest when ``version`` is None."""
        if version is None:
            return self.latest
        try:
            return self.versions[version]
        except KeyError:
            raise NotFound(f"Servable not found for request: Specific({self.name}, {version})") from None


class ModelManager:
    """The models this server holds, looked up by the name clients put in the URL.

    Names are only dictionary keys here: a name from a request never reaches the file system.
    """

    def __init__(self):
        self._models: dict[str, Model] = {}

    def load_model(self, name: str, base_path: str) -> Model:
        """Loads every version found under ``base_path`` and serves them as ``name``."""
        versions = {
            version: load_version(name, version, path)
            for version, path in discover_versions(base_path).items()
        }
        model = Model(name, versions)
        self._models[name] = model
        return model

    def get_model(self, name: str) -> Model:
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(f"Servable not found for request: Latest({name})") from None

    def get(self, name: str, version: int | None = None) -> ServableVersion:
        return self.get_model(name).get(version)


def discover_versions(base_path: str) -> dict[int, str]:
    """Maps each integer-named subdirectory holding a saved_model.pb to its path.

    Other entries (half-written exports, notes) are skipped, as TF Serving does.
    """
    if not tf.io.gfile.isdir(base_path):
        raise ModelLoadError(f"model base path {base_path!r} is not a directory")
    versions: dict[int, str] = {}
    for entry in sorted(tf.io.gfile.listdir(base_path)):
        entry = entry.rstrip("/")
        path = os.path.join(base_path, entry)
        is_version = entry.isascii() and entry.isdigit()
        if not is_version or not tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE)):
            continue
        version = int(entry)
        if version in versions:
            raise ModelLoadError(f"{versions[version]!r} and {path!r} are both version {version}")
        versions[version] = path
    if not versions:
        raise ModelLoadError(
            f"no versions under {base_path!r}: expected <version>/{SAVED_MODEL_FILE} with an integer version"
        )
    return versions


def load_version(name: str, version: int, path: str) -> ServableVersion:
    signature_defs = read_signature_defs(path)
    try:
        loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
    except Exception as error:  # TF raises many unrelated types for a broken export
        raise ModelLoadError(f"cannot load {path!r}: {error}") from error
    signatures = {
        key: Signature(key, signature_defs[key], function)
        for key, function in loaded.signatures.items()
        if key in signature_defs
    }
    logger.info("loaded %s version %d from %s; signatures: %s", name, version, path, ", ".join(sorted(signatures)))
    return ServableVersion(name, version, path, signature_defs, signatures, loaded)


def read_signature_defs(path: str) -> dict[str, object]:
    """The SignatureDefs of the MetaGraph tagged ``serve`` in ``path``/saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(os.path.join(path, SAVED_MODEL_FILE), "rb") as stream:
            saved_model.ParseFromString(stream.read())
    except DecodeError as error:
        raise ModelLoadError(f"{path!r} has an unreadable {SAVED_MODEL_FILE}: {error}") from error
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ModelLoadError(f"{path!r} has no MetaGraph tagged {SERVE_TAG!r}")
