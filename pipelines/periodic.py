"""A ``with`` block during which a function runs every few seconds in a background thread."""
from __future__ import annotations

import threading
from typing import Callable


class every:
    """Calls ``tick()`` every ``interval`` seconds from a daemon thread while the block runs.

    Used for the pipeline's heartbeat and by the benchmarks to sample memory while a run goes on.
    """

    def __init__(self, interval: float, tick: Callable[[], None], name: str = "periodic"):
        self.interval, self.tick = interval, tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self._stop.set()
        self._thread.join()
        return False
