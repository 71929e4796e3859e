"""Memory of the kernel and its worker processes, sampled in a background thread.

Worker processes share pages with each other and with the kernel, so summing RSS counts
shared pages several times. On Linux the proportional set size (PSS) splits each shared page
between the processes that map it, and Σ PSS is the memory of the whole process tree; where
PSS is missing, USS (private memory) is the next best, and RSS the last resort. The method used
is reported with every figure.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._events import OverMemoryLimit
from ._format import format_bytes
from ._points import Point, point_name
from ._sampling import SAMPLER_PREFIX, Sampler

# Sampling costs about a millisecond per process; the interval is chosen so that the sampler
# uses at most this share of the machine, between the bounds below.
MAX_COST = 0.05
MIN_INTERVAL = 0.010
MAX_INTERVAL = 0.050


class ProcessTree:
    """Memory of this process and of all its children, by the best method available."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.process = psutil.Process(os.getpid())
        self.method = self._detect_method()

    def _detect_method(self) -> str:
        try:
            info = self.process.memory_full_info()
        except (self._psutil.AccessDenied, AttributeError):
            return "rss"
        if getattr(info, "pss", None):
            return "pss"
        return "uss" if getattr(info, "uss", None) else "rss"

    def _of(self, process) -> float:
        if self.method == "rss":
            return float(process.memory_info().rss)
        return float(getattr(process.memory_full_info(), self.method))

    def kernel(self) -> float:
        """Bytes of this process."""
        return self._of(self.process)

    def children(self) -> dict[int, float]:
        """Bytes of each child process (recursively), by pid."""
        sizes = {}
        for child in self.process.children(recursive=True):
            try:
                sizes[child.pid] = self._of(child)
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
        return sizes

    def rss(self) -> float:
        """RSS of this process."""
        return float(self.process.memory_info().rss)

    def rss_total(self) -> float:
        """Σ RSS of the tree, for comparison: it counts shared pages once per process."""
        total = float(self.process.memory_info().rss)
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
        return total

    def sample_cost(self) -> float:
        """Seconds one sample of the whole tree takes now."""
        start = time.perf_counter()
        self.kernel()
        self.children()
        return time.perf_counter() - start


class PeakSampler(Sampler):
    """Samples the tree in a background thread and keeps the peak of the total.

    ``with_children`` False counts the kernel only (a serial run uses no workers, and idle
    workers of another n_jobs value are not its memory).
    """

    thread_name = SAMPLER_PREFIX + "memory"

    def __init__(self, tree: ProcessTree, interval: float, with_children: bool) -> None:
        super().__init__(interval)
        self.tree = tree
        self.with_children = with_children
        self.peak = 0.0
        self.peak_children = 0.0
        self.peak_rss = 0.0
        self.samples = 0

    def sample(self) -> None:
        kernel = self.tree.kernel()
        children = self.tree.children() if self.with_children else {}
        total = kernel + sum(children.values())
        self.samples += 1
        if total > self.peak:
            self.peak = total
            self.peak_children = sum(children.values())
            self.peak_rss = self.tree.rss_total() if self.with_children else self.tree.rss()


def sampling_interval(cost: float, cores: int) -> float | None:
    """The interval keeping the sampler under ``MAX_COST`` of the machine; None if even the
    longest interval costs more (then memory is not sampled by default)."""
    interval = max(MIN_INTERVAL, cost / (MAX_COST * max(cores, 1)))
    return interval if interval <= MAX_INTERVAL else None


def available_memory() -> tuple[float, str]:
    """Bytes the process tree could still take, and where that figure comes from: the
    system's available memory, or the cgroup's limit when that is lower."""
    import psutil

    available = float(psutil.virtual_memory().available)
    source = "available system memory"
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit_file) as handle:
                raw = handle.read().strip()
            with open(usage_file) as handle:
                used = float(handle.read().strip())
        except (OSError, ValueError):
            continue
        if raw.isdigit() and float(raw) < 2**60:  # "max" or a huge number mean no limit
            left = float(raw) - used
            if left < available:
                available, source = max(left, 0.0), "memory left under the cgroup limit"
        break
    return available, source


def memory_limit(observer: Any, max_memory: tuple[str, float]):
    """``skip(point, workers)`` for the sweep: an :class:`OverMemoryLimit` when a point's
    estimated peak memory exceeds ``--max-memory``; None when memory is not sampled (nothing
    to estimate from)."""
    if observer.tree is None:
        return None
    kind, amount = max_memory
    available, source = available_memory()
    in_use = observer.tree.kernel() + sum(observer.tree.children().values())
    limit = amount if kind == "bytes" else amount * (available + in_use)
    where = (
        "as given"
        if kind == "bytes"
        else f"{amount:.0%} of the {format_bytes(available + in_use)} the kernel and its "
        f"workers can use ({source})"
    )

    def skip(point: Point, workers: int) -> OverMemoryLimit | None:
        estimate = observer.estimate_peak(workers)
        if estimate is None or estimate[0] <= limit:
            return None
        name = point_name(point.backend, point.n_jobs, workers)
        return OverMemoryLimit(name, estimate[0], estimate[1], limit, where)

    return skip
