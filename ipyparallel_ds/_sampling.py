"""A sampler: a background thread that looks at the process tree at a fixed interval during a
timed run, and keeps its own CPU time so that the observer can leave it out of the statement's.

The memory sampler (:mod:`._memory`) and the thread counter (:mod:`._threads`) are both one.
Their threads are named ``parcompare-*``, never counted as the statement's threads, and always
stopped on leaving the ``with`` block, whatever ended it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import ClassVar

__all__ = ["SAMPLER_PREFIX", "Sampler"]

# Threads whose names start with this are the tool's own (the observer skips them).
SAMPLER_PREFIX = "parcompare-"


class Sampler:
    """Calls :meth:`sample` every ``interval`` seconds in a thread of its own, between
    entering and leaving a ``with`` block, and once more on leaving (so that a very short run
    has a sample, unless ``sample_on_exit`` is False). A sample that raises (a process that
    vanished) is skipped."""

    thread_name: ClassVar[str] = SAMPLER_PREFIX + "sampler"
    sample_on_exit: ClassVar[bool] = True

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.cpu_time = 0.0  # the sampler's own CPU time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    @property
    def native_id(self) -> int | None:
        """The sampler thread's id (None before it starts)."""
        return self._thread.native_id

    def available(self) -> bool:
        """Whether this sampler can sample here (else it does nothing)."""
        return True

    def started(self) -> None:
        """Runs first in the sampler thread."""

    def sample(self) -> None:
        raise NotImplementedError

    def _sample(self) -> None:
        with contextlib.suppress(Exception):
            self.sample()

    def _run(self) -> None:
        start = time.thread_time()
        self.started()
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)
        self.cpu_time = time.thread_time() - start

    def __enter__(self):
        if self.available():
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
            if self.sample_on_exit:
                self._sample()
