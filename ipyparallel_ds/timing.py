"""The timings and observations of one point (a backend and n_jobs), with their statistics.

Frozen data: the sweep fills the timings, the observer what really ran; everything else is
derived from those fields.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ._points import point_name
from .backends import traits
from .stats import median, quantile

__all__ = ["SEQUENTIAL_FALLBACK", "ConfigTiming", "ParallelCall"]

# How ``backend_used`` starts when joblib ran every call with one worker.
SEQUENTIAL_FALLBACK = "sequential"


@dataclass(frozen=True)
class ParallelCall:
    """One top-level ``joblib.Parallel`` call of the statement and its tasks, as measured.

    ``durations`` holds each task's seconds in dispatch order, timed in the process that ran
    it (the kernel at n_jobs=1 and for thread backends, the workers otherwise), the median
    over the timed runs; it is empty when some of the tasks could not be timed. ``wall`` is
    the seconds the whole call took in the kernel (median). ``transfer`` is the seconds
    pickling one task took, for a process backend's serial call (NaN when not measured).
    """

    backend: str
    n_jobs: int
    tasks: int
    durations: tuple[float, ...]
    wall: float
    where: str
    transfer: float = math.nan

    @property
    def timed(self) -> bool:
        """Whether every task's duration was measured."""
        return self.tasks > 0 and len(self.durations) == self.tasks

    @property
    def work(self) -> float:
        """Seconds of all the tasks together."""
        return math.fsum(self.durations)

    @property
    def longest(self) -> float:
        return max(self.durations, default=math.nan)

    @property
    def parallelism(self) -> float:
        """Work over the longest task: no number of workers can do better than this."""
        return self.work / self.longest if self.timed and self.longest > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["durations"] = list(self.durations)
        data.update(work=self.work, longest=self.longest, parallelism=self.parallelism)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParallelCall:
        def number(value):
            return math.nan if value is None else float(value)

        return cls(
            backend=data["backend"],
            n_jobs=int(data["n_jobs"]),
            tasks=int(data["tasks"]),
            durations=tuple(float(d) for d in data["durations"]),
            wall=number(data["wall"]),
            where=data["where"],
            transfer=number(data.get("transfer")),
        )


@dataclass(frozen=True)
class ConfigTiming:
    """Timings of the statement at one point: a backend and n_jobs (for dask and ipyparallel,
    the number of cluster workers).

    ``backend`` is the joblib backend the point ran under (``"sequential"`` for the serial
    baseline shared by several backends); ``backend_used`` is what the timed runs were seen
    to use. ``cluster_startup`` is how long the cluster took to start its workers for this
    point (NaN for local backends); like the first call, it is never part of warm figures.

    ``all_runs`` holds the total time of each timed run of ``loops`` loops, as in IPython's
    ``TimeitResult``; the statistics are per loop. ``first_call`` is one call on a freshly
    started worker pool and is never part of the warm statistics. ``paired_baseline`` holds
    the per-loop times of the baseline runs interleaved with this config's runs (empty when
    the runs were not interleaved); ``speedup`` is computed from them.
    """

    n_jobs: int
    workers: int
    first_call: float
    loops: int
    all_runs: tuple[float, ...]
    warmup_calls: tuple[float, ...] = ()
    warm_settled: bool = True
    paired_baseline: tuple[float, ...] = ()
    # Why its timed rounds stopped: "settled" (the interval answered), "repeat" (-r reached),
    # "max rounds" (the default's most rounds, unsettled), "budget"; "" for the baseline.
    stopped_by: str = ""
    rows: int | None = None  # rows of the --data arrays it ran on (None: no data-size sweep)
    speedup: float = math.nan
    # The speedup's 95 % interval for what another session on this machine would measure, and
    # the narrower one from this session's runs alone (the stopping rule's; more runs shrink it).
    speedup_ci: tuple[float, float] = (math.nan, math.nan)
    session_ci: tuple[float, float] = (math.nan, math.nan)
    efficiency: float = math.nan
    backend: str = ""
    cluster_startup: float = math.nan
    # What really ran during the timed runs (empty/None when it was not observed).
    backend_used: str = ""
    workers_used: int | None = None
    parallel_calls: int | None = None
    cpu_time: float = math.nan
    effective_n_jobs: tuple[int, ...] = ()
    nested_calls: int = 0
    # joblib calls the tasks made inside loky's worker processes (per call of the statement),
    # their effective n_jobs and backends; None/empty when not observed.
    worker_parallel_calls: int | None = None
    worker_effective_n_jobs: tuple[int, ...] = ()
    worker_backend_used: str = ""
    pool_changed: bool = False
    # Memory over the timed runs (NaN when not sampled), in bytes, by ``memory_method``.
    peak_memory: float = math.nan
    memory_increase: float = math.nan
    memory_method: str = ""
    memory_per_worker: float = math.nan
    idle_worker_memory: float = math.nan
    rss_total: float = math.nan
    # BLAS/OpenMP threads: per pool in the kernel and in a worker, and how many could run at
    # once (workers x inner threads x nested n_jobs); None when not observed.
    thread_pools: dict[str, list] = field(default_factory=dict)
    kernel_threads: int | None = None
    worker_threads: int | None = None
    total_threads: int | None = None
    # Threads of the kernel and its workers running or ready to run, counted every 25 ms
    # during the timed runs: on average, at most, on average in the kernel process, at most
    # in one worker process, and on average in a worker process while it ran any (NaN or
    # None when not counted: off Linux, or a remote cluster's workers).
    runnable_threads: float = math.nan
    peak_runnable_threads: int | None = None
    kernel_runnable_threads: float = math.nan
    worker_runnable_threads: int | None = None
    busy_worker_runnable_threads: float = math.nan
    # Share of those samples with more threads running or ready to run than usable cores.
    oversubscribed_share: float = math.nan
    # The statement's top-level joblib calls and their tasks (see ParallelCall), and the
    # seconds per call of the statement spent outside them (median; NaN when not observed).
    tasks: tuple[ParallelCall, ...] = ()
    outside_calls: float = math.nan

    @property
    def cpu_utilisation(self) -> float:
        """CPU time of the kernel and its workers over wall time x workers (1.0 = all busy)."""
        wall = math.fsum(self.all_runs)
        return self.cpu_time / (wall * self.workers) if wall > 0 else math.nan

    @property
    def cores_used(self) -> float:
        """CPU time of the kernel and its workers over wall time during the timed runs: how
        many cores did work on average (NaN when it was not observed). Threads inside a
        library count too, so n_jobs=1 can use more than one."""
        wall = math.fsum(self.all_runs)
        return self.cpu_time / wall if wall > 0 and self.parallel_calls is not None else math.nan

    @property
    def repeat(self) -> int:
        """Number of timed runs."""
        return len(self.all_runs)

    @property
    def timings(self) -> tuple[float, ...]:
        """Seconds per loop of each timed run."""
        return tuple(run / self.loops for run in self.all_runs)

    # Statistics are NaN when a sweep was interrupted before any timed run of this value.
    @property
    def best(self) -> float:
        return min(self.timings, default=math.nan)

    @property
    def worst(self) -> float:
        return max(self.timings, default=math.nan)

    @property
    def average(self) -> float:
        return math.fsum(self.timings) / len(self.timings) if self.timings else math.nan

    @property
    def stdev(self) -> float:
        """Population standard deviation of the per-loop times, as ``TimeitResult.stdev``."""
        if not self.timings:
            return math.nan
        mean = self.average
        return math.sqrt(math.fsum((t - mean) ** 2 for t in self.timings) / len(self.timings))

    @property
    def median(self) -> float:
        return median(self.timings)

    @property
    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the per-loop times."""
        ordered = sorted(self.timings)
        return (quantile(ordered, 0.25), quantile(ordered, 0.75))

    @property
    def iqr(self) -> float:
        """Interquartile range of the per-loop times."""
        low, high = self.quartiles
        return high - low

    @property
    def startup_cost(self) -> float:
        """How much longer the first call took than a warm call (median)."""
        return self.first_call - self.median

    @property
    def on_cluster(self) -> bool:
        """Whether the point ran on a cluster (its size is the number of cluster workers)."""
        return traits(self.backend).is_cluster

    @property
    def backends_used(self) -> tuple[str, ...]:
        """The joblib backends the timed runs were seen to use (from ``backend_used``)."""
        text = self.backend_used
        if text.startswith(SEQUENTIAL_FALLBACK + " ("):
            text = text[len(SEQUENTIAL_FALLBACK) + 2 : -1]
        return tuple(n for n in text.split(", ") if n and n != "none")

    @property
    def ran_sequentially(self) -> bool:
        """Whether joblib ran every parallel call with one worker (its sequential fallback),
        as observed: every top-level call's effective n_jobs was 1."""
        if self.parallel_calls is not None:
            return self.effective_n_jobs == (1,)
        return self.backend_used.startswith(SEQUENTIAL_FALLBACK + " (")

    @property
    def ran_threads(self) -> bool:
        """Whether a backend whose workers are threads of the kernel ran."""
        return any(traits(name).uses_threads for name in self.backends_used)

    @property
    def ran_processes(self) -> bool:
        """Whether a backend whose workers are processes ran (not only threads)."""
        return any(
            not traits(name).uses_threads and name != SEQUENTIAL_FALLBACK
            for name in self.backends_used
        )

    @property
    def name(self) -> str:
        """How the point is named in sentences (see :func:`point_name`)."""
        return point_name(self.backend, self.n_jobs, self.workers)

    @property
    def label(self) -> str:
        """n_jobs as asked, with the effective worker count when they differ: ``-1 (2)``."""
        return (
            str(self.n_jobs) if self.n_jobs == self.workers else f"{self.n_jobs} ({self.workers})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Raw fields and derived statistics as plain Python values."""
        data = asdict(self)
        data["speedup_ci"] = list(self.speedup_ci)
        data["session_ci"] = list(self.session_ci)
        for name in (
            "all_runs",
            "warmup_calls",
            "paired_baseline",
            "effective_n_jobs",
            "worker_effective_n_jobs",
        ):
            data[name] = list(data[name])
        data["tasks"] = [call.to_dict() for call in self.tasks]
        data.update(
            cpu_utilisation=self.cpu_utilisation,
            repeat=self.repeat,
            timings=list(self.timings),
            best=self.best,
            worst=self.worst,
            average=self.average,
            stdev=self.stdev,
            median=self.median,
            iqr=self.iqr,
        )
        return data
