"""Writing frames as the CSV file TFX's CsvExampleGen reads."""
from __future__ import annotations

import os
import pathlib
from typing import Iterable, Sequence

import pandas as pd

CSV_NAME = "data.csv"


def write_frames(frames: Iterable[pd.DataFrame], columns: Sequence[str], out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/data.csv``: one header, then every frame's ``columns`` in order.

    Frames are consumed one at a time, so a generator of chunks is written in bounded memory.
    Missing values become empty cells, which CsvExampleGen reads as absent features.
    """
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / CSV_NAME
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(columns) + "\n")  # also when there are no rows
        for frame in frames:
            frame.loc[:, list(columns)].to_csv(handle, header=False, index=False, na_rep="")
    return path
