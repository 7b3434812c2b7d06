"""An ExampleGen that builds each impression's user history inside the pipeline, in Beam.

It reads MovieLens-shaped event CSV (the CTR columns plus ``rating``; ``pipelines.inputs`` writes
it for ``data.source: movielens_history``), groups the events by user, and emits one
``tf.Example`` per event carrying the user's behaviours strictly before it
(``zoo.data.histories.BuildHistories``), as ``schemas/movielens_history.pbtxt`` describes. The
histories are built on the whole input before ExampleGen splits it, so an eval impression's
history holds the user's earlier train events too, as it would online.

With an already-split input (``data.split: time``: ``train/`` and ``eval/``), each split's
examples still get their histories from the events of every split (``context_patterns``); the
time split guarantees those are earlier or simultaneous, and "strictly before" drops the latter.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from zoo.data import histories

_INT_COLUMNS = {"user_id", "movie_id", "release_year", "hour", "weekday", "timestamp", "clicked"}
_TARGET = "__target__"  # marks the rows of the split being written, among the context rows


def _parse_rows(lines: str, header: list[str]):
    for values in csv.reader(io.StringIO(lines)):
        row = dict(zip(header, values))
        yield {column: (None if value == "" else int(value) if column in _INT_COLUMNS
                        else float(value) if column == "rating" else value)
               for column, value in row.items()}


def _header(pattern: str) -> list[str]:
    from zoo.backend import tf

    first = sorted(tf.io.gfile.glob(pattern))[0]
    with tf.io.gfile.GFile(first) as f:
        return next(csv.reader([f.readline()]))


def _settings(exec_properties: dict[str, Any]) -> dict:
    config = proto_utils.json_to_proto(exec_properties["custom_config"], example_gen_pb2.CustomConfig())
    settings = struct_pb2.Struct()
    config.custom_config.Unpack(settings)
    return json_format.MessageToDict(settings)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _EventsToHistoryExamples(pipeline: beam.Pipeline, exec_properties: dict[str, Any],  # noqa: N802 (TFX's style)
                             split_pattern: str):
    """The serialized tf.Examples of the split ``split_pattern``, histories built over every context split."""
    settings = _settings(exec_properties)
    base = exec_properties["input_base"]
    tagged = []
    for index, pattern in enumerate(settings["context_patterns"]):
        path = os.path.join(base, pattern)
        header = _header(path)
        tagged.append(
            pipeline
            | f"Read{index}" >> beam.io.ReadFromText(path, skip_header_lines=1)
            | f"Parse{index}" >> beam.FlatMap(_parse_rows, header)
            | f"Tag{index}" >> beam.Map(lambda row, target: {**row, _TARGET: target}, pattern == split_pattern)
        )
    return (
        tagged
        | "Context" >> beam.Flatten()
        | "Histories" >> histories.BuildHistories(max_len=int(settings["max_len"]))
        | "KeepSplit" >> beam.Filter(lambda row: row[_TARGET])
        # Serialized here: ExampleGen splits (by hash) and writes serialized records as they are.
        | "ToExample" >> beam.Map(lambda row: histories.to_example(row).SerializeToString())
    )


class HistoryExampleGenExecutor(BaseExampleGenExecutor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX's name)
        return _EventsToHistoryExamples


def history_example_gen(input_base: str, max_len: int, split_patterns: list[str] | None = None,
                        **splits) -> FileBasedExampleGen:
    """The ExampleGen over the event CSV in ``input_base``; ``max_len``: the schema's history length.

    ``split_patterns``: the input's split patterns when it is already split (every split's events are
    history for every split's impressions); ``splits``: ExampleGen's input_config or output_config.
    """
    settings = struct_pb2.Struct()
    settings.update({"max_len": max_len, "context_patterns": split_patterns or ["*"]})
    custom_config = example_gen_pb2.CustomConfig()
    custom_config.custom_config.Pack(settings)
    return FileBasedExampleGen(
        input_base=input_base, custom_config=custom_config,
        custom_executor_spec=executor_spec.BeamExecutorSpec(HistoryExampleGenExecutor), **splits,
    ).with_id("HistoryExampleGen")

