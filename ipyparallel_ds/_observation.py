"""What the observer saw over the timed runs of one point (see :mod:`._observe`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from ._joblib_calls import CallRecord, WorkerCall
from ._threads import RunnableCounts
from .backends import traits

__all__ = ["PointObservation", "RunRecord"]


@dataclass
class RunRecord:
    """One timed run as the sweep reports it to the observer: the seconds it took, set once
    the run has finished (None while it runs, or when it raised)."""

    seconds: float | None = None


@dataclass
class PointObservation:
    """What was seen over the timed runs of one point."""

    calls: list[CallRecord] = field(default_factory=list)
    statement_calls: int = 0
    cpu_time: float = 0.0
    active_pids: set[int] = field(default_factory=set)
    active_threads: set[int] = field(default_factory=set)
    worker_pids_per_run: list[frozenset[int]] = field(default_factory=list)
    worker_calls: list[WorkerCall] = field(default_factory=list)  # made inside the workers
    workers_watched: bool = False  # whether the calls inside the workers were recorded
    peak_memory: float = 0.0
    peak_children_memory: float = 0.0
    peak_rss: float = 0.0
    idle_children_memory: float = 0.0
    first_call_memory: float = 0.0
    # Threads running or ready to run, counted during the timed runs (RunnableSampler).
    runnable: RunnableCounts = field(default_factory=RunnableCounts)
    # Per timed run: (seconds, loops, [(top-level call, {task index: seconds}, where)]).
    task_runs: list[tuple[float, int, list]] = field(default_factory=list)
    transfers: list[float] = field(default_factory=list)  # per timed call of the first call
    samples: list[list] = field(default_factory=list)  # its tasks, for the probe

    @property
    def backends(self) -> list[str]:
        return sorted({c.backend for c in self.calls})

    @property
    def parallel_calls(self) -> int:
        """joblib Parallel calls per call of the statement (rounded)."""
        if not self.statement_calls:
            return 0
        return round(len(self.calls) / self.statement_calls)

    @property
    def effective_n_jobs(self) -> list[int]:
        return sorted({c.n_jobs for c in self.calls if c.depth == 0})

    @property
    def worker_parallel_calls(self) -> int:
        """joblib calls made inside the workers per call of the statement (rounded)."""
        if not self.statement_calls:
            return 0
        return round(len(self.worker_calls) / self.statement_calls)

    @property
    def worker_effective_n_jobs(self) -> list[int]:
        return sorted({c.n_jobs for c in self.worker_calls if c.depth == 0})

    @property
    def nested_calls(self) -> int:
        return sum(1 for c in self.calls if c.depth > 0)

    @property
    def pool_changed(self) -> bool:
        """Worker processes were replaced between timed runs (so some runs were cold)."""
        seen = [pids for pids in self.worker_pids_per_run if pids]
        return any(later - earlier for earlier, later in pairwise(seen))

    def workers_used(self, threads: bool) -> int:
        """Workers that did work: child processes, or threads for thread backends; at least 1
        (the kernel itself). The threading and multiprocessing backends start their pool
        inside each call and stop it before the call returns, so its workers are gone before
        a snapshot can see them; joblib's own worker count for the call stands in for them."""
        count = len(self.active_threads) if threads else len(self.active_pids)
        if any(traits(name).pool_per_call for name in self.backends):
            count = max(count, *self.effective_n_jobs, 1)
        return max(count, 1)
