"""Finding a real data set on disk, or downloading it into the cache without ever leaving half of it.

Every loader of real data searches the same places in the same order (an explicit directory,
its environment variable, the cache, a download), so users configure them all the same way.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import tempfile
import urllib.request
from typing import Callable


class DatasetUnavailable(RuntimeError):
    """The data set could not be found locally nor downloaded."""


def default_cache_dir() -> pathlib.Path:
    """``$ZOO_CACHE_DIR``, else ``~/.cache/zoo``; read on each call so tests can redirect it."""
    configured = os.environ.get("ZOO_CACHE_DIR")
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".cache" / "zoo"


def download_file(url: str, path: pathlib.Path, timeout: float) -> None:
    """Stream ``url`` (http(s) or file://) into ``path``."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
        shutil.copyfileobj(response, out)


@dataclasses.dataclass(frozen=True)
class LocalLayout:
    """Where a data set may already be: the files a copy holds, its environment variable, its cache folder."""

    title: str  # in messages, e.g. "MovieLens"
    files: tuple[str, ...]
    env_var: str  # e.g. "ZOO_MOVIELENS_DIR"
    cache_subdir: str

    def holds(self, directory: pathlib.Path) -> bool:
        return all((directory / name).is_file() for name in self.files)

    def locate(
        self,
        source: str | os.PathLike | None,
        *,
        cache_dir: str | os.PathLike | None,
        download: bool,
        fetch: Callable[[pathlib.Path], None],
        origin: str,
        errors: tuple[type[BaseException], ...] = (OSError, ValueError),
    ) -> pathlib.Path:
        """A directory holding ``files``, from ``source``, ``$env_var``, the cache, else ``fetch``.

        A location the caller configured explicitly (``source`` or the environment variable)
        must be valid: falling back to a download would hide the mistake. ``fetch(directory)``
        fills an empty directory, raising one of ``errors`` when the download fails or looks
        wrong; ``origin`` (the URL) names the download in messages.
        """
        if source is not None:
            return self._checked(pathlib.Path(source).expanduser(), "source")
        from_env = os.environ.get(self.env_var)
        if from_env:
            return self._checked(pathlib.Path(from_env).expanduser(), f"${self.env_var} =")

        cache_root = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        cached = cache_root / self.cache_subdir
        if self.holds(cached):
            return cached

        tried = ["source: not given", f"${self.env_var}: not set", f"cache: {cached} (not present)"]
        if not download:
            raise DatasetUnavailable(f"{self.title} not found; download disabled. Tried " + "; ".join(tried))
        try:
            return self._fill_atomically(cached, fetch)
        except errors as err:
            tried.append(f"download {origin}: {err}")
            raise DatasetUnavailable(f"{self.title} unavailable. Tried " + "; ".join(tried)) from err

    def _checked(self, directory: pathlib.Path, origin: str) -> pathlib.Path:
        if not self.holds(directory):
            raise DatasetUnavailable(f"{origin} {directory} does not hold {' and '.join(self.files)}")
        return directory

    def _fill_atomically(self, target: pathlib.Path, fetch: Callable[[pathlib.Path], None]) -> pathlib.Path:
        """Fill a private temporary directory, then rename it into place.

        The rename is the only step visible to other readers, so an interrupted or failed
        download never leaves a partial cache behind.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            filled = staging / target.name
            filled.mkdir()
            fetch(filled)
            try:
                filled.rename(target)
            except OSError:
                if not self.holds(target):  # anything but a concurrent download that finished first
                    raise
            return target
        finally:
            shutil.rmtree(staging, ignore_errors=True)
