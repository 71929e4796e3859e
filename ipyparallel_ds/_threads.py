"""BLAS/OpenMP thread pools: what each process has, and how many threads could run at once."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from ._sampling import SAMPLER_PREFIX, Sampler

__all__ = [
    "THREAD_VARIABLES",
    "RunnableCounts",
    "RunnableSampler",
    "oversubscribed",
    "thread_pools",
    "threads_at_once",
    "time_over_cores",
    "with_threads",
]

# Environment variables that set BLAS/OpenMP thread counts; joblib respects a user's setting
# instead of its own per-worker limit.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def thread_pools() -> list[tuple[str, int]]:
    """(internal API, threads) of each BLAS/OpenMP pool loaded in this process."""
    from threadpoolctl import threadpool_info

    return [(pool["internal_api"], int(pool["num_threads"])) for pool in threadpool_info()]


def with_threads(config: Any, report: dict[str, list] | None, nested_n_jobs: bool) -> Any:
    """``config`` with its thread report: threads per pool in the kernel and a worker, and how
    many could run at once: workers x inner threads x nested n_jobs (the inner value is
    rewritten to the same k)."""
    if report is None:
        return config
    kernel = max((n for _, n in report["kernel"]), default=1)
    worker = max((n for _, n in report["worker"]), default=1) if report["worker"] else None
    if config.workers <= 1 or config.ran_sequentially:
        total = kernel
    elif config.ran_threads:
        total = config.workers * kernel  # threads share the kernel's pools, without a limit
    else:
        workers = max(config.workers_used or config.workers, config.workers)
        total = workers * (worker or 1)
    if nested_n_jobs and config.workers > 1:
        total *= abs(config.n_jobs) if config.n_jobs > 0 else config.workers
    return replace(
        config,
        thread_pools={k: [list(p) for p in v] for k, v in report.items()},
        kernel_threads=kernel,
        worker_threads=worker,
        total_threads=total,
    )


# Oversubscribed: more threads ready to run than usable cores for at least this share of the
# timed runs (samples). Two busy workers on two cores, with the kernel waking now and then,
# are over the cores in a few samples in ten; nested parallelism in most of them.
OVERSUBSCRIBED_SHARE = 0.5
# A share needs this many counts (a quarter of a second of timed runs); below it, one count
# more or less would move it by more than a tenth.
MIN_SHARE_SAMPLES = 10
# Where only the average is known (a result saved before the share was counted): this many
# times more threads on average than usable cores.
OVERSUBSCRIBED = 1.15


def oversubscribed(config: Any, usable: int | None) -> bool:
    """Whether a parallel point had more threads ready to run than usable cores: for most of
    its timed runs, as counted (``oversubscribed_share``), where they were counted; else as
    estimated from the thread pools (``total_threads``). Unknown cores: never."""
    if config.workers <= 1 or not usable:
        return False
    if not math.isnan(config.oversubscribed_share):
        return config.oversubscribed_share >= OVERSUBSCRIBED_SHARE
    if not math.isnan(config.runnable_threads):
        return config.runnable_threads > OVERSUBSCRIBED * usable
    return bool(config.total_threads and config.total_threads > usable)


def threads_at_once(config: Any) -> str:
    """The threads that ran at once, in words: counted where they were, else estimated."""
    if not math.isnan(config.runnable_threads):
        return (
            f"on average {config.runnable_threads:.1f} threads (at most "
            f"{config.peak_runnable_threads}) were running or ready to run at once"
        )
    return f"up to {config.total_threads} threads could run at once"


def time_over_cores(config: Any) -> str:
    """How long there were more threads than cores, in words ("" where not counted)."""
    share = config.oversubscribed_share
    return (
        "" if math.isnan(share) else f", more than the cores during {share:.0%} of the timed runs"
    )


# How often the runnable threads of the kernel and its workers are counted during a run. A
# count costs about 0.1 ms of the kernel's CPU and GIL. Counting every 10 ms took about 2 %
# off the seed statement's speedup at n_jobs=2, both cores busy with workers; every 25 ms,
# about 0.5 % (`benchmarks/sampler_cost.py --parts [--every 0.010]`, 12 paired rounds each).
RUNNABLE_INTERVAL = 0.025
_REFRESH_PROCESSES = 0.25  # seconds between looks for new worker processes


def _runnable_threads(pid: int, skip: set[int]) -> int | None:
    """Threads of process ``pid`` in the running or ready state ('R' in /proc), None when the
    process is gone or /proc cannot tell."""
    count = 0
    try:
        entries = list(os.scandir(f"/proc/{pid}/task"))
    except OSError:
        return None
    for entry in entries:
        if int(entry.name) in skip:
            continue
        try:  # os.read, not open(): a quarter cheaper, and this runs in the kernel
            handle = os.open(f"/proc/{pid}/task/{entry.name}/stat", os.O_RDONLY)
        except OSError:
            continue
        try:
            stat = os.read(handle, 512)
        except OSError:
            continue
        finally:
            os.close(handle)
        end = stat.rfind(b")")
        if stat[end + 2 : end + 3] == b"R":
            count += 1
    return count


@dataclass
class RunnableCounts:
    """Threads running or ready to run, summed over the samples of one or more runs: over the
    whole tree, in the kernel process, and in each child process that had at least one."""

    samples: int = 0
    total: int = 0
    kernel: int = 0
    peak: int = 0
    peak_in_a_child: int = 0
    over: int = 0  # samples with more runnable threads than usable cores
    busy_child_samples: int = 0  # (child, sample) pairs with at least one runnable thread
    busy_child_threads: int = 0  # runnable threads over those pairs

    def add(self, other: RunnableCounts) -> None:
        for name in (
            "samples",
            "total",
            "kernel",
            "over",
            "busy_child_samples",
            "busy_child_threads",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.peak = max(self.peak, other.peak)
        self.peak_in_a_child = max(self.peak_in_a_child, other.peak_in_a_child)

    def _per(self, count: int, samples: int) -> float:
        return count / samples if samples else math.nan

    @property
    def mean(self) -> float:
        """Threads at once over the tree, on average."""
        return self._per(self.total, self.samples)

    @property
    def kernel_mean(self) -> float:
        """Threads at once in the kernel process, on average."""
        return self._per(self.kernel, self.samples)

    @property
    def over_share(self) -> float:
        """Share of the samples with more threads at once than usable cores (NaN from fewer
        than :data:`MIN_SHARE_SAMPLES`: the average then decides)."""
        return self._per(self.over, self.samples) if self.samples >= MIN_SHARE_SAMPLES else math.nan

    @property
    def per_busy_child(self) -> float:
        """Threads at once in a child process while it ran any, on average."""
        return self._per(self.busy_child_threads, self.busy_child_samples)

    def fields(self, parallel: bool, children_seen: bool) -> dict[str, Any]:
        """The ``ConfigTiming`` fields of these counts (none when nothing was counted); the
        figures of the workers only for a ``parallel`` point whose workers are this kernel's
        children (``children_seen``: not a remote cluster's)."""
        if not self.samples:
            return {}
        in_workers = parallel and children_seen
        return {
            "runnable_threads": self.mean,
            "peak_runnable_threads": self.peak,
            "kernel_runnable_threads": self.kernel_mean,
            "worker_runnable_threads": self.peak_in_a_child if in_workers else None,
            "busy_worker_runnable_threads": self.per_busy_child if in_workers else math.nan,
            "oversubscribed_share": self.over_share if children_seen else math.nan,
        }


class RunnableSampler(Sampler):
    """Counts, in a background thread, the threads of the kernel and of its child processes
    that are running or ready to run, every :data:`RUNNABLE_INTERVAL` seconds.

    More runnable threads than cores is oversubscription as it happens, whatever its cause
    (nested n_jobs, threads inside a library, user thread settings); a thread that waits for
    a core still counts, so the count does not fall when the machine is loaded. ``counts``
    splits them between the kernel and the child processes (workers running threads of their
    own). Linux only: elsewhere ``counts.samples`` stays 0. ``skip`` holds thread ids not to
    count (the tool's own sampler threads); a sample with more threads than ``usable`` cores
    counts as over them.
    """

    thread_name = SAMPLER_PREFIX + "threads"
    sample_on_exit = False  # from the main thread, the sample would count the main thread

    def __init__(self, skip: set[int] | None = None, usable: int | None = None) -> None:
        super().__init__(RUNNABLE_INTERVAL)
        self.skip = set(skip or ())
        self.usable = usable
        self.counts = RunnableCounts()
        self._children: list[int] = []
        self._refreshed = -math.inf

    def available(self) -> bool:
        return os.path.isdir("/proc/self/task")

    def started(self) -> None:
        import psutil

        self._me = psutil.Process(os.getpid())
        self.skip.add(threading.get_native_id())

    def sample(self) -> None:
        import psutil

        now = time.monotonic()
        if now - self._refreshed > _REFRESH_PROCESSES:
            with contextlib.suppress(psutil.Error):
                self._children = [c.pid for c in self._me.children(recursive=True)]
            self._refreshed = now
        kernel = _runnable_threads(self._me.pid, self.skip)
        if kernel is None:
            return
        in_children = [_runnable_threads(pid, self.skip) for pid in self._children]
        busy = [c for c in in_children if c]
        counts = self.counts
        running = kernel + sum(busy)
        counts.samples += 1
        counts.total += running
        counts.kernel += kernel
        counts.over += bool(self.usable) and running > self.usable
        counts.peak = max(counts.peak, running)
        counts.peak_in_a_child = max([counts.peak_in_a_child, *busy])
        counts.busy_child_samples += len(busy)
        counts.busy_child_threads += sum(busy)
