"""Request metrics in the Prometheus text exposition format (version 0.0.4), written by hand.

Served at ``/monitoring/prometheus/metrics`` (TF Serving's path). Per model, version, API and
protocol: a request counter by status code, an error counter and a latency histogram; per model and
version, a histogram of the batch sizes the batcher formed.
"""
from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Mapping, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    def __init__(self, bounds: Sequence[float]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list[str]:
        lines, cumulative = [], 0
        for bound, count in zip([*map(_number, self.bounds), "+Inf"], self.counts):
            cumulative += count
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
        lines.append(f"{name}_sum{{{labels}}} {_number(self.total)}")
        lines.append(f"{name}_count{{{labels}}} {cumulative}")
        return lines


class Metrics:
    """Thread-safe counters and histograms; ``render`` writes them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: dict[tuple, int] = defaultdict(int)
        self._errors: dict[tuple, int] = defaultdict(int)
        self._latency: dict[tuple, _Histogram] = {}
        self._batches: dict[tuple, _Histogram] = {}

    def observe_request(self, model: str, version: str, api: str, protocol: str, code: str, seconds: float,
                        error: bool) -> None:
        key = (model, version, api, protocol)
        with self._lock:
            self._requests[(*key, code)] += 1
            if error:
                self._errors[key] += 1
            self._latency.setdefault(key, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, model: str, version: int, size: int) -> None:
        with self._lock:
            self._batches.setdefault((model, str(version)), _Histogram(BATCH_SIZE_BUCKETS)).observe(size)

    def render(self, available_versions: Mapping[str, Sequence[int]]) -> str:
        request_labels = ("model", "version", "api", "protocol")
        lines = []
        with self._lock:
            lines += _header("zoo_serving_requests_total", "counter", "Requests answered, by status code.")
            lines += [f"zoo_serving_requests_total{{{_labels((*request_labels, 'code'), key)}}} {count}"
                      for key, count in sorted(self._requests.items())]
            lines += _header("zoo_serving_request_errors_total", "counter", "Requests answered with an error.")
            lines += [f"zoo_serving_request_errors_total{{{_labels(request_labels, key)}}} {count}"
                      for key, count in sorted(self._errors.items())]
            lines += _header("zoo_serving_request_latency_seconds", "histogram",
                             "Time from reading a request to writing its reply.")
            for key, histogram in sorted(self._latency.items()):
                lines += histogram.lines("zoo_serving_request_latency_seconds", _labels(request_labels, key))
            lines += _header("zoo_serving_batch_size", "histogram", "Rows per model call formed by the batcher.")
            for key, histogram in sorted(self._batches.items()):
                lines += histogram.lines("zoo_serving_batch_size", _labels(("model", "version"), key))
        lines += _header("zoo_serving_model_versions_available", "gauge", "Versions AVAILABLE per model.")
        lines += [f'zoo_serving_model_versions_available{{model="{_escape(name)}"}} {len(versions)}'
                  for name, versions in sorted(available_versions.items())]
        return "\n".join(lines) + "\n"


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in zip(names, values))


def _escape(value: str) -> str:
    """Label values escape backslash, double quote and newline (the exposition format's rule)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value))
