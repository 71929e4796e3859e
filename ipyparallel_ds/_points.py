"""Points: what a sweep measures (a backend and a size), and how a point is named."""

from __future__ import annotations

from typing import NamedTuple

from ._format import plural
from .backends import traits

__all__ = ["Point", "point_name"]


class Point(NamedTuple):
    """One measured configuration: a backend and a size (n_jobs, or cluster workers)."""

    backend: str
    n_jobs: int


def point_name(backend: str, n_jobs: int | str, workers: int) -> str:
    """How a point is named in sentences and charts: ``n_jobs=2``, ``n_jobs=2 (threading)``,
    ``dask with 2 workers`` (for clusters the size is the number of workers)."""
    runner = traits(backend)
    if runner.is_cluster:
        return f"{backend} with {plural(workers, 'worker')}"
    if not backend or not runner.qualified:
        return f"n_jobs={n_jobs}"
    return f"n_jobs={n_jobs} ({backend})"
