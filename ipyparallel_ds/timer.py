"""The timer: runs loops of the prepared statement at a point, with n_jobs reaching the code."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from typing import Any, Protocol

from ._options import MIN_TIMEOUT, TIMEOUT_FACTOR
from ._points import Point
from ._threads import thread_pools
from .backends import Runner
from .statement import PreparedStatement, compile_plain, timing_function

__all__ = ["StatementTimer", "Timer"]


class Timer(Protocol):
    """Something that runs ``number`` loops of the statement at a point (backend, n_jobs) and
    returns the total seconds. The real one is :class:`StatementTimer`; tests pass synthetic
    ones."""

    def __call__(self, point: Point, number: int) -> float: ...


class StatementTimer:
    """Times loops of a prepared statement in a namespace, with n_jobs reaching the code.

    Each call at a point runs inside that point's joblib configuration (its runner's
    ``parallel_config``, ``n_jobs=k`` for the local backends), which reaches every joblib call
    whose n_jobs is unset, and uses a copy of the statement whose literal ``n_jobs=`` keywords
    are set to ``k``. The garbage collector is off while timing, as in ``%timeit``. The
    namespace is used as globals; names the statement assigns stay local. Calls on a cluster
    get a deadline: ``timeout`` seconds per call, or, when it is None, a multiple of the
    slowest serial call seen so far.
    """

    def __init__(
        self,
        prepared: PreparedStatement,
        namespace: dict[str, Any],
        *,
        clock: Callable[[], float] = time.perf_counter,
        compiler: Callable[..., Any] = compile_plain,
        keep_values: bool = False,
        inner_threads: int | None = None,
        runners: dict[str, Runner] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.prepared = prepared
        self.inner_threads = inner_threads
        self.namespace = namespace
        self.clock = clock
        self.compiler = compiler
        self.keep_values = keep_values
        self.runners = runners or {}
        self.timeout = timeout
        self.serial_call = 0.0  # slowest per-loop time of a serial (n_jobs=1) call in the kernel
        self.first_values: dict[Point, Any] = {}
        self._functions: dict[int, Callable[..., tuple[float, Any]]] = {}

    def _function(self, n_jobs: int) -> Callable[..., tuple[float, Any]]:
        if n_jobs not in self._functions:
            self._functions[n_jobs] = timing_function(
                self.prepared,
                n_jobs,
                self.namespace,
                compiler=self.compiler,
                keep_value=self.keep_values,
            )
        return self._functions[n_jobs]

    def _runner(self, point: Point) -> Runner | None:
        return self.runners.get(point.backend)

    def _config(self, point: Point):
        """joblib's configuration for the point and, with ``inner_threads``, the thread
        limits: ``inner_max_num_threads`` for loky's workers, threadpoolctl in the kernel."""
        from joblib import parallel_config

        runner = self._runner(point)
        stack = ExitStack()
        if runner is not None:
            stack.enter_context(runner.config(point.n_jobs, self.inner_threads))
        else:
            stack.enter_context(parallel_config(n_jobs=point.n_jobs))
        if self.inner_threads is not None:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=self.inner_threads))
        return stack

    def deadline(self) -> float | None:
        """Seconds allowed per call on a cluster."""
        if self.timeout is not None:
            return self.timeout
        if not self.serial_call:
            return None
        return max(MIN_TIMEOUT, TIMEOUT_FACTOR * self.serial_call)

    def thread_report(self, point: Point, workers: int) -> dict[str, list]:
        """BLAS/OpenMP pools (api, threads) in the kernel and, through a tiny task on the same
        configuration, in a worker; run outside the timed region, on the warm pool."""
        from joblib import Parallel, delayed

        runner = self._runner(point)
        around = runner.around_call(1, self.deadline()) if runner is not None else nullcontext()
        with around, self._config(point):
            report = {"kernel": thread_pools(), "worker": []}
            if workers > 1:
                report["worker"] = Parallel()(delayed(thread_pools)() for _ in range(1))[0]
        return report

    def __call__(self, point: Point, number: int) -> float:
        inner = self._function(point.n_jobs)
        runner = self._runner(point)
        on_cluster = runner is not None and runner.is_cluster
        around = runner.around_call(number, self.deadline()) if on_cluster else nullcontext()
        with around, self._config(point):
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                seconds, value = inner(itertools.repeat(None, number), self.clock)
            finally:
                if gc_was_enabled:
                    gc.enable()
        if not on_cluster and point.n_jobs == 1:
            self.serial_call = max(self.serial_call, seconds / number)
        if self.keep_values and point not in self.first_values:
            self.first_values[point] = value
        return seconds
