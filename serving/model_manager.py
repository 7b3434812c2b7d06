"""Finds, loads, warms up, swaps and retires the versions of the served models.

A model lives under ``<base_path>/<version>/saved_model.pb`` where ``<version>`` is an integer
directory name, as in TF Serving. ``ModelManager.poll`` (run every ``--file_system_poll_wait_seconds``)
applies each model's version policy to the versions on disk: it loads new ones, warms them up
(``assets.extra/tf_serving_warmup_requests``) and only then makes them AVAILABLE, and retires the
versions the policy no longer selects once their replacements serve. A version that fails to load
is logged, reported in the model status and skipped, so the previous one keeps serving; it is tried
again when its files change. After start-up a new version directory must look the same on two
consecutive polls before it is loaded, so a half-copied export is never picked up.

Model names are only dictionary keys: a name from a request never reaches the file system, and a
version directory that resolves outside its model's base path (a symlink) is refused.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Callable, Iterable, Mapping

from google.protobuf.message import DecodeError
# The SavedModel proto has no tf.* alias; importing it is safe because serving/__init__ already
# ran zoo._env, so TensorFlow starts with the environment zoo.backend expects.
from tensorflow.core.protobuf import saved_model_pb2

from serving import protos
from serving.config import BatchingParameters, ModelSpec
from serving.errors import InvalidArgument, ModelLoadError, NotFound
from serving.signature import Signature
from zoo.backend import tf

SAVED_MODEL_FILE = "saved_model.pb"
SERVE_TAG = "serve"
AVAILABLE, END = "AVAILABLE", "END"

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

    def close(self) -> None:
        for signature in self.signatures.values():
            signature.close()


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """A version's state as GetModelStatus reports it; ``error`` is empty unless its load failed."""

    version: int
    state: str
    error: str = ""


class Model:
    """The versions of one model name. ``versions`` is replaced, never mutated, so readers need no lock."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.versions: dict[int, ServableVersion] = {}
        self.history: dict[int, VersionStatus] = {}  # versions that failed or were retired
        self.failed_fingerprints: dict[int, tuple] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def get(self, version: int | None = None, label: str | None = None) -> ServableVersion:
        """The requested version, the one ``label`` names, or the latest when both are None."""
        versions = self.versions
        if label is not None:
            if label not in self.spec.labels:
                raise NotFound(f"Unrecognized servable version label: {label}")
            version = self.spec.labels[label]
        if version is None:
            if not versions:
                raise NotFound(f"Servable not found for request: Latest({self.name})")
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise NotFound(f"Servable not found for request: Specific({self.name}, {version})") from None

    def status(self, version: int | None = None) -> list[VersionStatus]:
        statuses = {**self.history, **{v: VersionStatus(v, AVAILABLE) for v in self.versions}}
        if version is None:
            return [statuses[v] for v in sorted(statuses)]
        if version not in statuses:
            raise NotFound(f"Servable not found for request: Specific({self.name}, {version})")
        return [statuses[version]]


class ModelManager:
    """The models this server holds, looked up by the name clients put in the URL."""

    def __init__(self, specs: Iterable[ModelSpec], batching: BatchingParameters | None = None,
                 on_batch: Callable[[str, int, int], None] | None = None):
        self._models = {spec.name: Model(spec) for spec in specs}
        self._batching = batching
        self._on_batch = on_batch
        self._seen: dict[tuple[str, int], tuple] = {}  # fingerprints from the previous poll
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def models(self) -> dict[str, Model]:
        return dict(self._models)

    def get_model(self, name: str) -> Model:
        try:
            return self._models[name]
        except KeyError:
            raise NotFound(f"Servable not found for request: Latest({name})") from None

    def get(self, name: str, version: int | None = None, label: str | None = None) -> ServableVersion:
        return self.get_model(name).get(version, label)

    def load(self) -> None:
        """The first poll; raises ``ModelLoadError`` when a model has no version that loads."""
        self.poll(initial=True)
        for model in self._models.values():
            if not model.versions:
                errors = "; ".join(status.error for status in model.history.values() if status.error)
                raise ModelLoadError(
                    f"model {model.name!r}: no servable version under {model.spec.base_path!r}"
                    + (f" ({errors})" if errors else f": expected <version>/{SAVED_MODEL_FILE} with an integer version")
                )

    def poll(self, initial: bool = False) -> None:
        with self._poll_lock:
            for model in self._models.values():
                try:
                    self._poll_model(model, initial)
                except ModelLoadError as error:
                    logger.error("model %s: %s", model.name, error)

    def start_polling(self, interval_seconds: float) -> None:
        """Polls every ``interval_seconds`` in a background thread; 0 means never (as in TF Serving)."""
        if interval_seconds <= 0:
            return

        def loop():
            while not self._stop.wait(interval_seconds):
                self.poll()

        self._poller = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stops polling and ends every version's batch threads after their queued requests."""
        self._stop.set()
        if self._poller:
            self._poller.join()
        with self._poll_lock:
            for model in self._models.values():
                for servable in model.versions.values():
                    servable.close()

    def _poll_model(self, model: Model, initial: bool) -> None:
        candidates = {}
        for version, path in discover_versions(model.spec.base_path).items():
            if version in model.versions:
                candidates[version] = (path, None)
                continue
            fingerprint = _fingerprint(path)
            if model.failed_fingerprints.get(version) == fingerprint:
                continue  # broken and unchanged since it failed
            previous = self._seen.get((model.name, version))
            self._seen[(model.name, version)] = fingerprint
            if initial or previous == fingerprint:
                candidates[version] = (path, fingerprint)
        while True:
            wanted = model.spec.policy.select(candidates)
            missing = sorted(wanted - set(model.versions), reverse=True)
            if not missing:
                break
            version = missing[0]
            path, fingerprint = candidates[version]
            try:
                servable = self._load(model.name, version, path)
            except ModelLoadError as error:
                logger.error("model %s version %d not loaded, previous versions keep serving: %s",
                             model.name, version, error)
                model.failed_fingerprints[version] = fingerprint
                model.history[version] = VersionStatus(version, END, str(error))
                del candidates[version]
                continue
            model.failed_fingerprints.pop(version, None)
            model.history.pop(version, None)
            model.versions = {**model.versions, version: servable}
            logger.info("model %s version %d is AVAILABLE", model.name, version)
        retired = set(model.versions) - wanted
        if retired:
            previous = model.versions
            model.versions = {v: s for v, s in previous.items() if v not in retired}
            for version in sorted(retired):
                # Requests that already hold the version finish on it; its batch threads drain first.
                previous[version].close()
                self._seen.pop((model.name, version), None)
                model.history[version] = VersionStatus(version, END)
                logger.info("model %s version %d retired", model.name, version)

    def _load(self, name: str, version: int, path: str) -> ServableVersion:
        def on_batch(size: int) -> None:
            if self._on_batch:
                self._on_batch(name, version, size)

        servable = load_version(name, version, path, self._batching, on_batch)
        try:
            count = protos.warm_up(servable)
        except ModelLoadError:
            servable.close()
            raise
        if count:
            logger.info("model %s version %d: replayed %d warm-up requests", name, version, count)
        return servable


def discover_versions(base_path: str) -> dict[int, str]:
    """Maps each integer-named subdirectory holding a saved_model.pb to its path.

    Other entries (half-written exports, notes) are skipped, as TF Serving does.
    """
    if not tf.io.gfile.isdir(base_path):
        raise ModelLoadError(f"model base path {base_path!r} is not a directory")
    local = "://" not in base_path
    root = os.path.realpath(base_path) if local else base_path
    versions: dict[int, str] = {}
    for entry in sorted(tf.io.gfile.listdir(base_path)):
        entry = entry.rstrip("/")
        path = os.path.join(base_path, entry)
        if not (entry.isascii() and entry.isdigit()) or not tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE)):
            continue
        if local and os.path.commonpath([root, os.path.realpath(path)]) != root:
            logger.warning("skipping %s: it resolves outside the model base path %s", path, base_path)
            continue
        version = int(entry)
        if version in versions:
            logger.warning("skipping %s: %s is version %d too", path, versions[version], version)
            continue
        versions[version] = path
    return versions


def _fingerprint(path: str) -> tuple:
    """Every file under ``path`` with its size and modification time: changes while a copy is running."""
    files = []
    for directory, _, names in tf.io.gfile.walk(path):
        for name in names:
            stat = tf.io.gfile.stat(os.path.join(directory, name))
            files.append((os.path.relpath(os.path.join(directory, name), path), stat.length, stat.mtime_nsec))
    return tuple(sorted(files))


def load_version(name: str, version: int, path: str, batching: BatchingParameters | None = None,
                 on_batch: Callable[[int], None] | None = None) -> ServableVersion:
    signature_defs = read_signature_defs(path)
    try:
        loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
    except Exception as error:  # TF raises many unrelated types for a broken export
        raise ModelLoadError(f"cannot load {path!r}: {error}") from error
    signatures = {
        key: Signature(key, signature_defs[key], function, batching, on_batch)
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
    except (DecodeError, tf.errors.OpError) as error:
        raise ModelLoadError(f"{path!r} has an unreadable {SAVED_MODEL_FILE}: {error}") from error
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ModelLoadError(f"{path!r} has no MetaGraph tagged {SERVE_TAG!r}")
