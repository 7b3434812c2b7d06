"""Writing frames as the files TFX's ExampleGens read: CSV, or TFRecords of tf.Examples."""
from __future__ import annotations

import os
import pathlib
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

CSV_NAME = "data.csv"
TFRECORD_NAME = "data.tfrecord"


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


def write_frames_tfrecord(frames: Iterable[pd.DataFrame], columns: Sequence[str],
                          out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/data.tfrecord``: every frame's rows as tf.Examples of ``columns``, for ImportExampleGen.

    Integer columns become int64 features, float columns float features, the rest bytes features
    (strings UTF-8 encoded). A missing value becomes a feature with no values, as CsvExampleGen writes an
    empty cell, so for columns whose CSV type CsvExampleGen infers as these, both inputs give the same examples. The encoding runs in tfx_bsl's C++ coder, a frame at a time: millions of rows
    take seconds, where building protos in Python would take minutes.
    """
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    from zoo.backend import tf

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TFRECORD_NAME
    with tf.io.TFRecordWriter(str(path)) as writer:
        for frame in frames:
            batch = pa.RecordBatch.from_arrays([_one_value_lists(frame[name]) for name in columns], list(columns))
            for record in example_coder.RecordBatchToExamples(batch):
                writer.write(record)
    return path


def _one_value_lists(column: pd.Series):
    """A list array with the column's value in each row, or an empty list where it is missing."""
    import pyarrow as pa

    present = column.notna().to_numpy()
    offsets = np.concatenate([[0], np.cumsum(present)]).astype(np.int32)
    values = column[present]
    if pd.api.types.is_integer_dtype(column.dtype):
        values = pa.array(values.to_numpy(dtype=np.int64), type=pa.int64())
    elif pd.api.types.is_float_dtype(column.dtype):
        values = pa.array(values.to_numpy(dtype=np.float32), type=pa.float32())
    else:
        values = pa.array(values.astype(str).to_numpy(dtype=object), type=pa.binary())
    return pa.ListArray.from_arrays(pa.array(offsets), values)
