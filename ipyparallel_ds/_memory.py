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
# A reading of the tree is dropped when the kernel's own memory moved by more than this share
# while its children were read (a fork or an exec in between; see ProcessTree.snapshot).
UNSTABLE = 0.05


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
        return self._both(process)[0]

    def _both(self, process) -> tuple[float, float]:
        """Bytes of one process by the method, and its RSS around that reading.

        psutil reads RSS before it walks the memory map for PSS, which takes milliseconds: a
        worker that maps a large array in between showed a PSS four times its RSS. RSS is
        read again after the walk, and the larger of the two is kept, so that the Σ RSS
        shown next to a peak is never below it for that reason.
        """
        if self.method == "rss":
            rss = float(process.memory_info().rss)
            return rss, rss
        info = process.memory_full_info()
        after = process.memory_info().rss
        return float(getattr(info, self.method)), float(max(info.rss, after))

    def snapshot(self, with_children: bool = True) -> tuple[float, float, float] | None:
        """One reading of the tree: (kernel, children, Σ RSS) in bytes, each process's two
        figures read together; None when the reading is not consistent.

        A process that forks shares its pages with the child until the child replaces its
        program, which halves the kernel's PSS in the meantime: a kernel read before a fork
        and a child read after it count those pages one and a half times. The kernel is read
        before and after its children, and a reading in which it moved by more than
        ``UNSTABLE`` is dropped (the next one, ``interval`` later, is taken instead), and so
        is one whose Σ PSS exceeds its Σ RSS, which a process changing between its two
        figures can give (seen once in a full test run: 1046 MB against 583 MB).
        """
        kernel, kernel_rss = self._both(self.process)
        children = rss = 0.0
        if with_children:
            for child in self.process.children(recursive=True):
                try:
                    own, own_rss = self._both(child)
                except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                    continue
                children, rss = children + own, rss + own_rss
            again = self._of(self.process)
            if abs(again - kernel) > UNSTABLE * max(kernel, again):
                return None
        if kernel + children > kernel_rss + rss:  # no consistent reading has Σ PSS above Σ RSS
            return None
        return kernel, children, kernel_rss + rss

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

    def sample_cost(self) -> float:
        """Seconds one sample of the whole tree takes now."""
        start = time.perf_counter()
        self.snapshot()
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
        self.peak_rss = 0.0  # Σ RSS of the same reading as the peak
        self.samples = 0
        self.dropped = 0  # readings that were not consistent (see ProcessTree.snapshot)

    def sample(self) -> None:
        reading = self.tree.snapshot(self.with_children)
        if reading is None:
            self.dropped += 1
            return
        kernel, children, rss = reading
        self.samples += 1
        if kernel + children > self.peak:
            self.peak, self.peak_children, self.peak_rss = kernel + children, children, rss


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
