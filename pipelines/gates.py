"""Gates that stop a pipeline run before it trains on bad data.

TFX's ExampleValidator records anomalies but lets the run go on; ``AnomaliesGate`` sits between
it and Transform and fails the run, with a readable report, when any split has an anomaly, so
nothing downstream (Trainer, Evaluator, Pusher) runs and the model being served stays.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

# No `from __future__ import annotations` here: TFX reads the @component signature's real types.
ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes in each split's directory


class DataAnomaliesError(RuntimeError):
    """The input data does not match the schema; the message lists every anomaly."""


def anomalies_report(anomalies: ExampleAnomalies) -> str:
    """One line per anomaly, ``[split] feature: short description: description``; empty if clean."""
    from zoo.backend import tf

    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ANOMALIES_FILE)
        with tf.io.gfile.GFile(path, "rb") as file:
            found = anomalies_pb2.Anomalies.FromString(file.read())
        for feature, info in sorted(found.anomaly_info.items()):
            lines.append(f"[{split}] {feature}: {info.short_description}: {info.description}")
        if found.HasField("dataset_anomaly_info"):
            info = found.dataset_anomaly_info
            lines.append(f"[{split}] (data set): {info.short_description}: {info.description}")
    return "\n".join(lines)


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:
    """Fails the run when ExampleValidator found any anomaly."""
    report = anomalies_report(anomalies)
    if report:
        raise DataAnomaliesError(f"the data does not match the schema; training was not started:\n{report}")
