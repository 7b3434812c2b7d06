"""Training one model and measuring it the same way for both libraries."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import psutil
from sklearn.metrics import log_loss, roc_auc_score

from pipelines import periodic
from zoo.backend import keras

WARMUP_STEPS = 10  # steps excluded from throughput: graph tracing and first-batch allocation


class _StepClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.step_ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.step_ends.append(time.perf_counter())


class PeakRss(periodic.every):
    """Samples the process RSS every 50 ms while training runs; reports the rise over the start."""

    def __init__(self):
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        super().__init__(0.05, self._sample, name="peak-rss")

    def _sample(self):
        self.peak = max(self.peak, self._process.memory_info().rss)


@dataclasses.dataclass
class Run:
    auc: float
    log_loss: float
    examples_per_second: float
    peak_rss_rise_mib: float
    train_seconds: float


def train_and_score(model, train, test, *, batch_size, epochs, learning_rate) -> Run:
    """Adam, binary cross-entropy, shuffled batches; test AUC and log loss after ``epochs``.

    Seed before building ``model``: the seed must cover its initialization too.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    clock = _StepClock()
    started = time.perf_counter()
    with PeakRss() as rss:
        model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[clock])
    train_seconds = time.perf_counter() - started
    steps = np.diff(clock.step_ends[WARMUP_STEPS:])
    # Every step but an epoch's last holds batch_size examples; the few smaller last batches are ignored.
    throughput = batch_size * len(steps) / steps.sum() if len(steps) else float("nan")
    predictions = np.clip(model.predict(x_test, batch_size=4096, verbose=0).reshape(-1), 1e-7, 1 - 1e-7)
    return Run(auc=float(roc_auc_score(y_test, predictions)), log_loss=float(log_loss(y_test, predictions)),
               examples_per_second=float(throughput), peak_rss_rise_mib=(rss.peak - rss.start) / 2**20,
               train_seconds=train_seconds)
