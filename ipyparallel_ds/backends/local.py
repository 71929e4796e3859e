"""joblib's local backends: loky, threading and multiprocessing, and the serial baseline."""

from __future__ import annotations

import math

from .. import _pools
from .base import Runner

__all__ = ["LocalRunner", "LokyRunner", "MultiprocessingRunner", "SerialRunner", "ThreadingRunner"]


class LocalRunner(Runner):
    """A local joblib backend. ``explicit`` False leaves joblib's active backend (whatever
    ``parallel_config`` says outside) in charge; ``name`` then says which one that is."""

    qualified = True

    def __init__(self, explicit: bool = True, name: str | None = None) -> None:
        super().__init__()
        self.explicit = explicit
        if name is not None:
            self.name = name  # an active backend the registry does not know
        self._workers: dict[int, int] = {}

    def workers(self, n_jobs: int) -> int:
        if n_jobs not in self._workers:
            from joblib import effective_n_jobs

            with self.config(n_jobs):
                self._workers[n_jobs] = int(effective_n_jobs(n_jobs))
        return self._workers[n_jobs]

    def make_cold(self, n_jobs: int) -> float:
        if self.workers(n_jobs) > 1:
            _pools.shutdown_pool()
        return math.nan

    def config(self, n_jobs: int, inner_threads: int | None = None):
        from joblib import parallel_config

        if inner_threads is not None and self.limits_inner_threads:
            return parallel_config(
                backend=self.name, n_jobs=n_jobs, inner_max_num_threads=inner_threads
            )
        if self.explicit:
            return parallel_config(backend=self.name, n_jobs=n_jobs)
        return parallel_config(n_jobs=n_jobs)


class LokyRunner(LocalRunner):
    """joblib's default: a reusable pool of worker processes."""

    name = "loky"
    joblib_class = "LokyBackend"
    limits_inner_threads = True
    qualified = False


class ThreadingRunner(LocalRunner):
    """Threads of the kernel, started for each call."""

    name = "threading"
    joblib_class = "ThreadingBackend"
    uses_threads = True
    pool_per_call = True


class MultiprocessingRunner(LocalRunner):
    """A multiprocessing pool of worker processes, started for each call."""

    name = "multiprocessing"
    joblib_class = "MultiprocessingBackend"
    pool_per_call = True


class SerialRunner(LocalRunner):
    """The shared serial baseline when several backends are compared: n_jobs=1 runs the same
    sequential code in the kernel whatever the backend."""

    name = "sequential"
    joblib_class = "SequentialBackend"
    qualified = False

    def __init__(self) -> None:
        super().__init__(explicit=False)

    def workers(self, n_jobs: int) -> int:
        return 1
