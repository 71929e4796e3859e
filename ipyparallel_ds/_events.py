"""What happened during a sweep, as data: the sweep, the memory limit and the runners record
these, and :mod:`ipyparallel_ds.checks` turns each kind into its sentence.

Plain frozen dataclasses with no behaviour, so the layers that notice something (where it
runs, measuring) need not know how it is said.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BackendFailed",
    "Event",
    "Interrupted",
    "MeasuredAtItsSize",
    "OverMemoryLimit",
    "SizesTooLarge",
    "TasksCancelled",
    "WorkerDied",
]


@dataclass(frozen=True)
class OverMemoryLimit:
    """A point skipped because its estimated peak memory exceeds ``--max-memory``."""

    point: str
    estimate: float
    how: str
    limit: float
    where: str


@dataclass(frozen=True)
class BackendFailed:
    """A backend other than the baseline's could not run the statement at a point; its other
    points were skipped. ``deadline`` says the call missed its deadline on a cluster."""

    backend: str
    point: str
    error_type: str
    message: str  # the first line of the error's message
    deadline: bool = False
    full_message: str = ""


@dataclass(frozen=True)
class Interrupted:
    """Ctrl-C while measuring a point, after ``runs_done`` of its timed runs."""

    point: str
    runs_done: int


@dataclass(frozen=True)
class WorkerDied:
    """A worker process died while measuring a point, with these exit codes (signals < 0)."""

    point: str
    exit_codes: tuple[int, ...]


@dataclass(frozen=True)
class MeasuredAtItsSize:
    """An existing cluster that cannot be scaled from here was measured at its own size:
    ``available`` of its ``unit`` (a dask scheduler's worker threads, a Ray cluster's CPUs)."""

    where: str
    available: int
    asked: tuple[int, ...]
    backend: str
    unit: str


@dataclass(frozen=True)
class SizesTooLarge:
    """Sizes an existing cluster could not be measured at: it has ``available`` workers."""

    available: int
    too_big: tuple[int, ...]


@dataclass(frozen=True)
class TasksCancelled:
    """After an interrupt, ``count`` outstanding tasks were cancelled on a cluster."""

    count: int
    where: str


Event = (
    OverMemoryLimit
    | BackendFailed
    | Interrupted
    | WorkerDied
    | MeasuredAtItsSize
    | SizesTooLarge
    | TasksCancelled
)
