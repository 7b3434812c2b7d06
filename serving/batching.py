"""Server-side dynamic batching, as TF Serving's ``--enable_batching`` does it.

Concurrent requests to one signature wait in a queue; a batch thread takes as many as fit in
``max_batch_size`` rows once the batch is full or its oldest request has waited
``batch_timeout_micros``, concatenates their inputs along axis 0, calls the model once and hands each
request its rows of the outputs. More than ``max_enqueued_batches`` batches waiting is refused with
UNAVAILABLE (TF Serving's message), so an overloaded server sheds load instead of growing its queue.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import threading
import time
from typing import Callable, Mapping

import numpy as np

from serving.config import BatchingParameters
from serving.errors import InvalidArgument, Unavailable

Arrays = Mapping[str, np.ndarray]
Run = Callable[[Arrays], dict[str, np.ndarray]]


@dataclasses.dataclass
class _Task:
    inputs: Arrays
    rows: int
    key: tuple  # tasks batch together only when every input has the same dtype and inner shape
    enqueued: float
    future: concurrent.futures.Future = dataclasses.field(default_factory=concurrent.futures.Future)


def batch_size(inputs: Arrays) -> int | None:
    """The shared size of axis 0 of every input, or None when the inputs cannot be batched."""
    sizes = {array.shape[0] if array.ndim else None for array in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else None


class Batcher:
    """Merges concurrent ``submit`` calls into calls of ``run`` on up to ``max_batch_size`` rows."""

    def __init__(self, run: Run, parameters: BatchingParameters, name: str = "batcher",
                 on_batch: Callable[[int], None] | None = None):
        self._run = run
        self._parameters = parameters
        self._on_batch = on_batch
        self._queue: list[_Task] = []
        self._queued_rows = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(parameters.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs: Arrays) -> dict[str, np.ndarray]:
        """The outputs for ``inputs`` (blocking), computed in a batch with other requests."""
        rows = batch_size(inputs)
        if rows is None or rows == 0:
            return self._run(inputs)  # nothing to share a batch with
        limit = self._parameters.max_batch_size
        if rows > limit:
            raise InvalidArgument(f"Task size {rows} is larger than maximum input batch size {limit}")
        key = tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items()))
        task = _Task(inputs, rows, key, time.monotonic())
        with self._condition:
            stopping = self._stopping
            if not stopping:
                if math.ceil((self._queued_rows + rows) / limit) > self._parameters.max_enqueued_batches:
                    raise Unavailable("The batch scheduling queue to which this session was assigned is full")
                self._queue.append(task)
                self._queued_rows += rows
                self._condition.notify()
        if stopping:  # a retired version still answers the requests that already hold it
            return self._run(inputs)
        return task.future.result()

    def stop(self) -> None:
        """Finishes the queued requests, then ends the batch threads."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._execute(batch)

    def _next_batch(self) -> list[_Task] | None:
        timeout = self._parameters.batch_timeout_micros / 1e6
        with self._condition:
            while True:
                if not self._queue:
                    if self._stopping:
                        return None
                    self._condition.wait()
                    continue
                wait = self._queue[0].enqueued + timeout - time.monotonic()
                if self._queued_rows >= self._parameters.max_batch_size or wait <= 0 or self._stopping:
                    return self._take()
                self._condition.wait(wait)

    def _take(self) -> list[_Task]:
        """Pops the oldest task and every later one that fits beside it (same key, row budget)."""
        first = self._queue[0]
        batch, rest, rows = [], [], 0
        for task in self._queue:
            if task.key == first.key and rows + task.rows <= self._parameters.max_batch_size:
                batch.append(task)
                rows += task.rows
            else:
                rest.append(task)
        self._queue = rest
        self._queued_rows -= rows
        return batch

    def _execute(self, batch: list[_Task]) -> None:
        if self._on_batch:
            self._on_batch(sum(task.rows for task in batch))
        if len(batch) == 1:
            self._settle(batch[0], lambda: self._run(batch[0].inputs))
            return
        merged = {name: np.concatenate([task.inputs[name] for task in batch]) for name in batch[0].inputs}
        try:
            outputs = self._run(merged)
            total = sum(task.rows for task in batch)
            if batch_size(outputs) != total:
                raise _NotSplittable()
        except (InvalidArgument, _NotSplittable):
            # One bad request (e.g. an unparsable tf.Example) must not fail the others, and outputs
            # without a batch axis cannot be split: run each request on its own.
            for task in batch:
                self._settle(task, lambda task=task: self._run(task.inputs))
            return
        except BaseException as error:  # noqa: BLE001  (handed to every waiting request)
            for task in batch:
                task.future.set_exception(error)
            return
        start = 0
        for task in batch:
            task.future.set_result({name: array[start:start + task.rows] for name, array in outputs.items()})
            start += task.rows

    @staticmethod
    def _settle(task: _Task, compute: Callable[[], dict[str, np.ndarray]]) -> None:
        try:
            task.future.set_result(compute())
        except BaseException as error:  # noqa: BLE001  (re-raised in the request's thread)
            task.future.set_exception(error)


class _NotSplittable(Exception):
    """The merged outputs have no common batch axis matching the merged inputs."""
