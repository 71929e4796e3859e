"""The plan of a sweep: validated options, their defaults, and the points to measure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import _options, _validate
from ._points import Point
from .backends import SERIAL, Runner, traits
from .environment import usable_cores

__all__ = ["Plan", "default_n_jobs", "effective_workers", "plan_points"]


@dataclass(frozen=True)
class Plan:
    """Validated options of a sweep. ``repeat=None`` means: as many rounds as needed.

    ``backends`` is empty for joblib's active backend; ``cluster``, ``scheduler``,
    ``profile``, ``cluster_id`` and ``address`` say where a cluster backend (dask,
    ipyparallel, ray) runs, and ``timeout`` is the deadline of each call there (None: from
    the serial call).
    ``n_jobs_given`` says whether the n_jobs values were asked or are the default;
    ``predict`` holds the worker counts to predict (empty: the default); ``budget`` the
    seconds the whole sweep may take (None: no limit); ``data`` and ``sizes`` a data-size
    sweep (empty: none).
    """

    n_jobs: tuple[int, ...]
    number: int = 0
    repeat: int | None = None
    memory: bool | None = None  # None: sample when it is cheap
    max_memory: tuple[str, float] = _validate.parse_max_memory(_options.DEFAULT_MAX_MEMORY)
    check: bool | None = None  # None: compare results when the statement returns a value
    inner_threads: int | str | None = None  # threads per worker and kernel; "auto"; None
    backends: tuple[str, ...] = ()
    cluster: str | None = None
    scheduler: str | None = None
    profile: str | None = None
    cluster_id: str | None = None
    address: str | None = None  # a running Ray cluster, HOST:PORT
    timeout: float | None = None
    n_jobs_given: bool = True
    predict: tuple[int, ...] = ()  # worker counts to predict; () for the default
    budget: float | None = None  # seconds for the whole sweep, first calls included
    data: tuple[str, ...] = ()  # arrays a data-size sweep cuts (--data X,y)
    sizes: tuple[float | int, ...] = ()  # fractions of their rows or row counts (--sizes)

    @classmethod
    def from_options(
        cls,
        n_jobs: object = None,
        number: object = 0,
        repeat: object = None,
        *,
        memory: bool | None = None,
        max_memory: object = _options.DEFAULT_MAX_MEMORY,
        check: bool | None = None,
        inner_threads: object = None,
        backend: object = None,
        cluster: object = None,
        scheduler: object = None,
        profile: object = None,
        cluster_id: object = None,
        address: object = None,
        timeout: object = None,
        predict: object = None,
        budget: object = None,
        data: object = None,
        sizes: object = None,
    ) -> Plan:
        """Validate user options; raises ValueError naming the bad value."""
        values = default_n_jobs() if n_jobs is None else _validate.parse_n_jobs(n_jobs)
        loops = _validate.parse_count("number (-n)", number, minimum=0)
        runs = None if repeat is None else _validate.parse_count("repeat (-r)", repeat, minimum=1)
        limit = _validate.parse_max_memory(max_memory)
        threads = None if inner_threads is None else _validate.parse_inner_threads(inner_threads)
        backends = () if backend is None else _validate.parse_backends(backend)
        connect = {"scheduler": scheduler, "profile": profile, "cluster_id": cluster_id}
        _validate.check_cluster_options(backends, cluster, **connect, address=address)
        seconds = None if timeout is None else _validate.parse_seconds("--timeout", timeout)
        allowed = None if budget is None else _validate.parse_seconds("--budget", budget)
        names = () if data is None else _validate.parse_data(data)
        if sizes is not None and not names:
            raise ValueError("--sizes needs --data naming the arrays to cut, e.g. --data X,y")
        cuts = _validate.parse_sizes(_options.DEFAULT_SIZES if sizes is None else sizes)
        return cls(
            values,
            loops,
            runs,
            memory,
            limit,
            check,
            threads,
            backends,
            cluster,  # type: ignore[arg-type]
            scheduler,  # type: ignore[arg-type]
            None if profile is None else str(profile),
            None if cluster_id is None else str(cluster_id),
            None if address is None else str(address),
            seconds,
            n_jobs is not None,
            () if predict is None else _validate.parse_predict(predict),
            allowed,
            names,
            cuts if names else (),
        )

    @property
    def shared_baseline(self) -> bool:
        """Whether one serial n_jobs=1 baseline is shared by several backends or a cluster."""
        return len(self.backends) > 1 or any(traits(b).is_cluster for b in self.backends)

    @property
    def rounds(self) -> int:
        """The most timed rounds of a point (``repeat``, or as many as the stopping rule may
        need)."""
        return self.repeat or _options.MAX_ROUNDS

    @property
    def baseline_runs(self) -> int:
        """Timed runs of a baseline that is not interleaved with the other points."""
        return self.repeat or _options.DEFAULT_REPEAT


def default_n_jobs(usable: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... doubling up to and including the usable core count."""
    if usable is None:
        usable = usable_cores()
    values = [1]
    while values[-1] * 2 < usable:
        values.append(values[-1] * 2)
    if usable > 1:
        values.append(usable)
    return tuple(values)


def effective_workers(n_jobs: int) -> int:
    """Worker count joblib's active backend gives for ``n_jobs`` (e.g. -1 -> usable cores)."""
    from joblib import effective_n_jobs

    return int(effective_n_jobs(n_jobs))


def plan_points(plan: Plan, runners: Sequence[Runner]) -> tuple[list[Point], dict[Point, int]]:
    """The points to measure and their worker counts.

    With one local backend: each n_jobs value on it. With several backends or a cluster: one
    serial n_jobs=1 baseline (the same sequential code whatever the backend), then each
    backend's parallel values, and each cluster's sizes.
    """
    points: list[Point] = []
    workers: dict[Point, int] = {}

    def add(point: Point, count: int) -> None:
        if point not in workers:
            points.append(point)
            workers[point] = count

    if not plan.shared_baseline:
        runner = runners[0]
        for k in plan.n_jobs:
            add(Point(runner.name, k), runner.workers(k))
        return points, workers
    add(Point(SERIAL, 1), 1)
    for runner in runners:
        for k in runner.sizes(plan.n_jobs, plan.n_jobs_given):
            count = runner.workers(k)
            if runner.is_cluster or count > 1:
                add(Point(runner.name, k), count)
    return points, workers
