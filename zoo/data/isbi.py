"""The ISBI 2012 EM segmentation challenge training set (Cardona et al. 2010), the U-Net paper's data.

30 serial-section TEM images of the Drosophila ventral nerve cord (512x512, grayscale) with
membrane masks. The challenge site (https://imagej.net/events/isbi-2012-segmentation-challenge)
distributes them as multi-page TIFFs after registration, so there is no download here: put them
as ``image/<i>.png`` and ``label/<i>.png`` (``i = 0..29``) in a folder and point the loader at it.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np

from zoo.data._download import DatasetUnavailable, default_cache_dir

ENV_VAR = "ZOO_ISBI_DIR"
NUM_IMAGES = 30


def locate(source: str | os.PathLike | None = None) -> pathlib.Path:
    """``source``, else ``$ZOO_ISBI_DIR``, else ``<cache>/isbi2012``: the first holding ``image/`` and ``label/``."""
    configured = source if source is not None else os.environ.get(ENV_VAR)
    candidates = [pathlib.Path(configured)] if configured else [default_cache_dir() / "isbi2012"]
    for directory in candidates:
        if (directory / "image" / "0.png").is_file() and (directory / "label" / "0.png").is_file():
            return directory
    raise DatasetUnavailable(
        f"ISBI 2012 EM data not found in {candidates[0]} (set {ENV_VAR} or pass the folder). Get the training "
        "volume and labels from https://imagej.net/events/isbi-2012-segmentation-challenge and save each slice "
        "as image/<i>.png and label/<i>.png.")


def load(source: str | os.PathLike | None = None, size: int | None = None):
    """Images float32 ``[30, H, W, 1]`` in [0, 1] and membrane masks float32 ``[30, H, W, 1]`` (1 = membrane).

    The label PNGs are white for cell interiors and black for membranes; the mask marks the
    membranes, the class U-Net segments. ``size`` resizes (area averaging for images, nearest
    for masks) to ``size x size``, for fast experiments.
    """
    from PIL import Image

    directory = locate(source)
    images, masks = [], []
    for i in range(NUM_IMAGES):
        image = Image.open(directory / "image" / f"{i}.png").convert("L")
        label = Image.open(directory / "label" / f"{i}.png").convert("L")
        if size is not None:
            image = image.resize((size, size), Image.BOX)
            label = label.resize((size, size), Image.NEAREST)
        images.append(np.asarray(image, np.float32) / 255.0)
        masks.append((np.asarray(label) < 128).astype(np.float32))
    return np.stack(images)[..., None], np.stack(masks)[..., None]


def split(images, masks, train=24):
    """The fixed split used by the benchmarks: the first ``train`` slices to train, the rest to test
    (consecutive sections, so test slices are not interleaved with training ones)."""
    return (images[:train], masks[:train]), (images[train:], masks[train:])
