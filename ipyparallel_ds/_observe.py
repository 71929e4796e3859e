"""Find out what really ran during the timed runs: joblib calls, workers, CPU time, threads.

Around each timed run the observer snapshots the CPU time of the kernel, its Python threads
and its child processes (psutil), collects the joblib ``Parallel`` calls made in the kernel and
inside the workers (:mod:`._joblib_calls`, wrapped for the duration of the sweep only), and
runs the memory and thread samplers. Only the samplers' threads run during the timed region,
and their own CPU time is kept out of the statement's.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any

from ._format import format_bytes
from ._joblib_calls import (
    CallRecord,
    ClusterCalls,
    WorkerCall,
    counting_calls,
    recording_in_workers,
)
from ._memory import PeakSampler, ProcessTree
from ._observation import PointObservation, RunRecord
from ._points import Point
from ._sampling import SAMPLER_PREFIX
from ._tasks import KernelTasks, summarise
from ._threads import RunnableSampler
from .backends import names, traits
from .environment import usable_cores
from .timing import SEQUENTIAL_FALLBACK

# A process or thread did work in a run if it used at least this much CPU: 5 ms, or 2 % of
# the run's wall time, whichever is more (idle workers and helper threads use far less).
_MIN_CPU_SECONDS = 0.005
_MIN_CPU_SHARE = 0.02


class Observer:
    """Observes timed runs; use as a context manager around the sweep."""

    def __init__(
        self, workers: dict[Any, int] | None = None, memory_interval: float | None = None
    ) -> None:
        import psutil

        self._process = psutil.Process(os.getpid())
        self.usable = usable_cores()
        self._records: list[CallRecord] = []
        # Tasks are timed on local backends, and on a cluster whose workers can record them.
        self._cluster_ok: dict[str, bool] = {}
        self._tasks = KernelTasks(self._times_tasks)
        self.values: dict[Any, PointObservation] = {}
        # Points on a cluster: where its workers keep their calls (None: they cannot).
        self._clusters: dict[Any, ClusterCalls | None] = {}
        self._worker_pids: dict[int, bool] = {}
        self.workers = workers or {}
        self.memory_interval = memory_interval
        self.tree = None
        self.kernel_baseline = math.nan
        if memory_interval is not None:
            self.tree = ProcessTree()
            self.kernel_baseline = self.tree.kernel()

    @property
    def memory_method(self) -> str:
        return self.tree.method if self.tree is not None else ""

    def __enter__(self) -> Observer:
        self._stack = ExitStack()
        with self._stack as stack:  # closed again at once only if entering fails
            stack.enter_context(counting_calls(self._records, self._tasks))
            self._in_workers = stack.enter_context(recording_in_workers())
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info) -> None:
        try:  # a running cluster's workers get joblib back; a local one is stopped anyway
            kept = [c for c in self._clusters.values() if c is not None]
            for calls in {id(c.runner): c for c in kept}.values():
                if calls.runner.remote:
                    with contextlib.suppress(Exception):  # a cluster that is gone needs nothing
                        calls.release()
        finally:
            self._stack.__exit__(*exc_info)

    # -- calls inside the workers --------------------------------------------------------
    def watch_workers(self, point: Any, runner: Any) -> None:
        """Once a point's workers have started: a cluster's workers keep their joblib calls
        (local pools, and pools a cluster starts in this kernel's processes, record theirs
        from the start). A cluster whose workers cannot (no ipyparallel_ds there) is not
        observed inside."""
        if not runner.is_cluster:
            return
        try:
            calls: ClusterCalls | None = ClusterCalls(runner)
        except Exception:
            calls = None
        self._cluster_ok[runner.name] = calls is not None
        if calls is None or calls.held:
            self._clusters[point] = calls

    def _times_tasks(self, backend: str) -> bool:
        """Whether a call's tasks are wrapped to be timed: on the local backends, and on a
        cluster whose workers record calls (they can then unpickle a timed task)."""
        if backend in self._cluster_ok:
            return self._cluster_ok[backend]
        # The registry's local backends run in this machine's processes, which all import
        # this package; a backend it does not know might not.
        local = backend == SEQUENTIAL_FALLBACK or backend in names()
        return local and not traits(backend).is_cluster

    def _calls_inside(self, point: Any):
        """Where the calls made inside the point's workers are read, None when nowhere."""
        if point in self._clusters:
            return self._clusters[point]
        return getattr(self, "_in_workers", None)

    @staticmethod
    def _new_calls(source) -> list[WorkerCall] | None:
        try:
            return source.new()
        except Exception:  # a cluster worker that died: its calls are lost
            return None

    # -- CPU snapshots -----------------------------------------------------------------
    def _children(self) -> dict[int, float]:
        import psutil

        times = {}
        for child in self._process.children(recursive=True):
            try:
                cpu = child.cpu_times()
                times[child.pid] = cpu.user + cpu.system
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return times

    def _is_worker(self, pid: int) -> bool:
        """Whether a child process is a pool worker: loky's (nested ones too), a fork or spawn
        of the kernel (multiprocessing, a local dask cluster's workers) or an ipyparallel
        engine; not a resource tracker, an engine's nanny or another subprocess."""
        import psutil

        if pid not in self._worker_pids:
            try:
                command = " ".join(psutil.Process(pid).cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                command = ""
            kernel = " ".join(self._process.cmdline())
            engine = "ipyparallel.engine" in command and "nanny" not in command
            self._worker_pids[pid] = "resource_tracker" not in command and (
                "loky" in command or "multiprocessing" in command or command == kernel or engine
            )
        return self._worker_pids[pid]

    def _threads(self) -> dict[int, float]:
        python_threads = {
            t.native_id for t in threading.enumerate() if not t.name.startswith(SAMPLER_PREFIX)
        }
        main = threading.main_thread().native_id
        return {
            t.id: t.user_time + t.system_time
            for t in self._process.threads()
            if t.id in python_threads and t.id != main
        }

    def _kernel_cpu(self) -> float:
        cpu = self._process.cpu_times()
        return cpu.user + cpu.system

    @contextmanager
    def first_call(self, point: Any) -> Iterator[None]:
        """Sample memory during a first call (the memory guard's estimate, and the point's
        peak: a sweep makes no warm-up calls of its own), and time pickling the first task of
        each serial call (see KernelTasks)."""
        value = self.values.setdefault(point, PointObservation())
        first = len(self._records)
        self._tasks.measure_transfer = True
        try:
            with self._memory(point) as sampler:
                yield
            if sampler is not None:
                value.first_call_memory = sampler.peak
                self._keep_peak(value, sampler)
                if sampler.with_children:
                    value.idle_children_memory = sum(self.tree.children().values())
        finally:
            self._tasks.measure_transfer = False
            timed = [r for r in self._records[first:] if r.call_id]
            value.transfers = [r.transfer for r in timed]
            value.samples = [r.samples or [] for r in timed]
            for record in timed:
                record.samples = None

    @contextmanager
    def warm_up(self, point: Any) -> Iterator[None]:
        """Sample memory during a point's calibration calls: the same work as its timed runs,
        which the memory sampler would slow (reading a busy worker's memory map takes CPU
        and locks from it)."""
        value = self.values.setdefault(point, PointObservation())
        with self._memory(point) as sampler:
            yield
        if sampler is not None:
            self._keep_peak(value, sampler)
            if sampler.with_children:
                value.idle_children_memory = sum(self.tree.children().values())

    @contextmanager
    def _memory(self, point: Any) -> Iterator[PeakSampler | None]:
        if self.tree is None:
            yield None
            return
        with PeakSampler(self.tree, self.memory_interval, self.workers.get(point, 1) > 1) as s:
            yield s

    @staticmethod
    def _keep_peak(value: PointObservation, sampler: PeakSampler) -> None:
        if sampler.peak > value.peak_memory:
            value.peak_memory = sampler.peak
            value.peak_children_memory = sampler.peak_children
            value.peak_rss = sampler.peak_rss

    @contextmanager
    def timed_run(self, point: Any, loops: int) -> Iterator[RunRecord]:
        """Observe one timed run of ``loops`` calls at ``point``.

        Everything that watches the run (the CPU snapshot, the joblib call count, the thread
        sampler) is entered through one ``ExitStack``, so the sampler thread stops on every
        path. Memory is not sampled here but in the first call and warm-up calls. The caller
        sets the yielded record's ``seconds``; a run that raised leaves it unset and is not
        accounted.
        """
        record = RunRecord()
        inside = self._calls_inside(point)
        if inside is not None:
            self._new_calls(inside)  # calls of the first call and warm-up are not this run's
            inside.tasks.clear()
        self._tasks.durations.clear()
        with ExitStack() as stack:
            snapshot = (
                len(self._records),
                self._kernel_cpu(),
                self._children(),
                self._threads(),
            )
            runnable = stack.enter_context(RunnableSampler(usable=self.usable))
            yield record
        if record.seconds is not None:
            self._account(point, record.seconds, loops, snapshot, runnable.cpu_time)
            self._account_inside(point, inside)
            self._account_tasks(point, record.seconds, loops, snapshot[0], inside)
            self.values[point].runnable.add(runnable.counts)

    def _account(
        self, point: Any, seconds: float, loops: int, snapshot: tuple, sampler_cpu: float
    ) -> None:
        """Account a timed run of ``loops`` calls that took ``seconds``."""
        first_record, kernel_before, children_before, threads_before = snapshot
        value = self.values.setdefault(point, PointObservation())
        value.calls.extend(self._records[first_record:])
        value.statement_calls += loops
        threshold = max(_MIN_CPU_SECONDS, _MIN_CPU_SHARE * seconds)
        children_after = self._children()
        child_cpu = 0.0
        for pid, cpu in children_after.items():
            used = cpu - children_before.get(pid, 0.0)
            child_cpu += max(used, 0.0)
            if used >= threshold and self._is_worker(pid):
                value.active_pids.add(pid)
        for tid, cpu in self._threads().items():
            if cpu - threads_before.get(tid, 0.0) >= threshold:
                value.active_threads.add(tid)
        kernel_cpu = self._kernel_cpu() - kernel_before - sampler_cpu
        value.cpu_time += max(kernel_cpu, 0.0) + child_cpu
        value.worker_pids_per_run.append(frozenset(children_after) - {os.getpid()})

    def _account_inside(self, point: Any, inside) -> None:
        calls = self._new_calls(inside) if inside is not None else None
        if calls is not None:
            value = self.values[point]
            value.worker_calls.extend(calls)
            value.workers_watched = True

    def _account_tasks(self, point: Any, seconds: float, loops: int, first: int, inside) -> None:
        """The run's top-level calls whose tasks were timed, with each task's duration from
        the kernel or from the workers."""
        from_workers: dict[str, dict[int, float]] = {}
        if inside is not None:
            for task in inside.tasks:
                from_workers.setdefault(task.call_id, {})[task.index] = task.seconds
            inside.tasks.clear()
        calls = []
        for record in self._records[first:]:
            if not record.call_id:
                continue
            kernel = dict(self._tasks.durations.pop(record.call_id, ()))
            workers = from_workers.get(record.call_id, {})
            where = "workers" if workers else "kernel"
            calls.append((record, {**kernel, **workers}, where))
        self.values[point].task_runs.append((seconds, loops, calls))

    def fields(self, config, observed_workers: bool = True):
        """``config`` with what was observed over its timed runs filled in; with
        ``observed_workers`` False (a remote cluster), worker processes are not counted."""
        value = self.values.get(Point(config.backend, config.n_jobs))
        if value is None:
            return config
        threads = any(traits(name).uses_threads for name in value.backends)
        backend = ", ".join(value.backends) if value.calls else "none"
        if value.calls and value.effective_n_jobs == [1]:
            backend = f"{SEQUENTIAL_FALLBACK} ({backend})"  # joblib's one-worker fallback
        # Counted at every point: a serial value's library can run threads of its own.
        used = value.workers_used(threads)
        tasks, outside = summarise(value.task_runs)
        if len(tasks) == len(value.transfers):
            tasks = tuple(
                replace(t, transfer=s) for t, s in zip(tasks, value.transfers, strict=True)
            )
        return replace(
            config,
            backend_used=backend,
            workers_used=used if observed_workers or config.workers <= 1 else None,
            parallel_calls=value.parallel_calls,
            cpu_time=value.cpu_time,
            effective_n_jobs=tuple(value.effective_n_jobs),
            nested_calls=value.nested_calls,
            worker_parallel_calls=value.worker_parallel_calls if value.workers_watched else None,
            worker_effective_n_jobs=tuple(value.worker_effective_n_jobs),
            worker_backend_used=", ".join(sorted({c.backend for c in value.worker_calls})),
            pool_changed=value.pool_changed and config.workers > 1,
            tasks=tasks,
            outside_calls=outside,
            **value.runnable.fields(config.workers > 1, observed_workers),
            **self._memory_fields(config, value),
        )

    def samples(self, config) -> list[list]:
        """The tasks of each top-level call of ``config``'s first call (when it was serial)."""
        value = self.values.get(Point(config.backend, config.n_jobs))
        return value.samples if value is not None else []

    def _memory_fields(self, config, value: PointObservation) -> dict:
        if self.tree is None or not value.peak_memory:
            return {}
        workers = max(config.workers, 1)
        return {
            "peak_memory": value.peak_memory,
            "memory_increase": value.peak_memory - self.kernel_baseline,
            "memory_method": self.tree.method,
            "memory_per_worker": value.peak_children_memory / workers
            if config.workers > 1
            else math.nan,
            "idle_worker_memory": value.idle_children_memory if config.workers > 1 else math.nan,
            "rss_total": value.peak_rss,
        }

    def estimate_peak(self, workers: int) -> tuple[float, str] | None:
        """Estimated peak memory of the tree with ``workers`` workers, from what was measured
        at smaller values: the kernel's peak plus per-worker growth times workers. None when
        memory is not sampled or nothing was measured yet."""
        if self.tree is None:
            return None
        serial = [
            v
            for k, v in self.values.items()
            if self.workers.get(k, 1) == 1 and (v.peak_memory or v.first_call_memory)
        ]
        parallel = [
            (v.peak_children_memory / self.workers[k], v.peak_memory - v.peak_children_memory)
            for k, v in self.values.items()
            if self.workers.get(k, 1) > 1 and v.peak_memory
        ]
        if parallel:
            per_worker = max(p for p, _ in parallel)
            kernel = max(k for _, k in parallel)
            how = "per worker as measured at a smaller n_jobs"
        elif serial:
            kernel = max(max(v.peak_memory, v.first_call_memory) for v in serial)
            per_worker = max(kernel - self.kernel_baseline, 0.0)
            how = "per worker as the kernel grew during a serial call"
        else:
            return None
        return kernel + workers * per_worker, (
            f"kernel {format_bytes(kernel)} + {workers} workers x "
            f"{format_bytes(per_worker)} ({how})"
        )
