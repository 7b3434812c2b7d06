"""The main job: run the MovieLens CTR pipeline, serve what it pushed, and query it over REST.

The server runs as its own process (``zoo serve``), exactly as a user would start it, and is
stopped by PID at the end.
"""
from __future__ import annotations

import base64
import contextlib
import csv
import json
import pathlib
import signal
import subprocess
import sys
import urllib.request

from pipelines.config import PipelineConfig
from pipelines.inputs import Echo, echo_line
from pipelines.run import print_summary, run_pipeline
from zoo.data.from_schema import csv_row_values, to_example
from zoo.schema import label_name, load_schema, schema_features

DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parent.parent / "configs" / "movielens_ctr.yaml"
REQUEST_ROWS = 5


def run_demo(config: PipelineConfig, echo: Echo = echo_line) -> int:
    summary = run_pipeline(config, echo)
    print_summary(summary, echo)
    if not summary.pushed_path:
        echo("The model was not blessed, so nothing was pushed and there is nothing to serve.")
        return 3
    base_path = pathlib.Path(config.serving_root) / config.serving_model_name
    with served(config.serving_model_name, str(base_path)) as (ready_line, url):
        echo(ready_line)
        _query(url, config, echo)
    echo("server stopped")
    return 0


@contextlib.contextmanager
def served(model_name: str, base_path: str):
    """Runs ``zoo serve`` as its own process, as a user would; yields (ready line, URL); stops it by PID.

    Raises ``RuntimeError`` when the server does not start or does not exit cleanly on SIGTERM.
    """
    server = subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "serve", "--model_name", model_name, "--model_base_path", base_path,
         "--rest_api_port", "0", "--port", "0"],  # free ports: servers never collide
        stdout=subprocess.PIPE, text=True,
    )
    try:
        ready = server.stdout.readline().strip()  # "serving NAME version V at http://HOST:PORT"
        if not ready.startswith("serving "):
            raise RuntimeError(f"zoo serve did not start (exit status {server.wait()})")
        yield ready, ready.rsplit(" ", 1)[1]
    finally:
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=60)
    if status != 0:
        raise RuntimeError(f"zoo serve exited with status {status}")


def request_instances(config: PipelineConfig, count: int = REQUEST_ROWS) -> tuple[list[dict], list[dict]]:
    """The last ``count`` rows of the run's input CSV, and each as a b64 tf.Example instance (no label)."""
    schema = load_schema(config.schema)
    label = label_name(schema_features(schema))
    with open(pathlib.Path(config.output_dir) / "data" / "data.csv") as file:
        rows = list(csv.DictReader(file))[-count:]
    instances = []
    for row in rows:
        values = {k: v for k, v in csv_row_values(schema, row).items() if k != label}
        instances.append({"b64": base64.b64encode(to_example(values).SerializeToString()).decode()})
    return rows, instances


def _query(url: str, config: PipelineConfig, echo: Echo) -> None:
    """Sends real rows as tf.Examples to ``:predict`` and prints predictions beside the labels."""
    label = label_name(schema_features(load_schema(config.schema)))
    rows, instances = request_instances(config)
    status = http_json(f"{url}/v1/models/{config.serving_model_name}")
    echo(f"GET  /v1/models/{config.serving_model_name} -> {json.dumps(status)}")
    response = http_json(f"{url}/v1/models/{config.serving_model_name}:predict",
                         {"signature_name": "serving_default", "instances": instances})
    echo(f"POST /v1/models/{config.serving_model_name}:predict with {len(instances)} real tf.Examples:")
    for row, prediction in zip(rows, response["predictions"]):
        features = ", ".join(f"{k}={row[k]}" for k in row if k != label)
        echo(f"  P(click)={prediction[0]:.3f}  actual={row[label]}  ({features})")


def http_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())
