"""The contract of a runner: what every backend module implements.

A sweep measures *points*: a backend and a size. A runner hands out joblib's configuration for
a point (always a context manager, so it is restored on every path), makes the point cold
before its first call, and, for clusters, puts a deadline on every call and cancels what is
left on the cluster when a call is stopped.

Traits are class attributes, so that nothing elsewhere tests a backend's name:

``name``
    The name users give with ``-b`` (and the registry key).
``joblib_class``
    The class name of joblib's backend object for it, to name what was seen to run.
``uses_threads``
    Its workers are threads of the kernel (they share its BLAS/OpenMP pools, unlimited).
``pool_per_call``
    joblib starts its workers inside each call and stops them before the call returns.
``is_cluster``
    A cluster: a point's size is the number of cluster workers, not n_jobs.
``limits_inner_threads``
    joblib's ``inner_max_num_threads`` limits its workers' BLAS/OpenMP threads.
``qualified``
    Sentences name its points with the backend: ``n_jobs=2 (threading)``.
``requires``
    (module, extra to install) for backends that need an optional package.
``connect_options``, ``connect_example``, ``connect_hint``
    The options that connect it to a running cluster (as :class:`~ipyparallel_ds.plan.Plan`
    names them), how errors show one, and what to say when they are given without it;
    :meth:`Runner.check_connect` checks their form.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from .._events import Event

__all__ = ["Runner", "resolve_size"]


def resolve_size(value: int, usable: int) -> int:
    """n_jobs-style size for a cluster: -1 is every usable core, -2 all but one."""
    return value if value > 0 else max(usable + 1 + value, 1)


class Runner:
    """Runs the statement on one backend. Subclasses fill in the details."""

    name: ClassVar[str] = ""
    joblib_class: ClassVar[str] = ""
    uses_threads: ClassVar[bool] = False
    pool_per_call: ClassVar[bool] = False
    is_cluster: ClassVar[bool] = False
    limits_inner_threads: ClassVar[bool] = False
    qualified: ClassVar[bool] = True
    requires: ClassVar[tuple[str, str] | None] = None
    # Options that connect to a running cluster, and how errors name them.
    connect_options: ClassVar[tuple[str, ...]] = ()
    connect_example: ClassVar[str] = ""
    connect_hint: ClassVar[str] = ""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.info: dict[str, Any] = {}
        self.remote = False  # workers are not processes of this machine's kernel

    @classmethod
    def from_plan(cls, plan: Any) -> Runner:
        """The runner for a plan (its cluster options, where the backend has any)."""
        return cls()

    @classmethod
    def check_connect(cls, values: dict[str, object]) -> None:
        """Raise ValueError naming a value of this backend's ``connect_options`` (in
        ``values``, None when not given) whose form is wrong, before anything runs."""

    def open(self) -> None:
        """Start or connect to what the backend needs (nothing for local backends)."""

    def close(self) -> None:
        """Stop what :meth:`open` started. Safe to call more than once."""

    def sizes(self, values: tuple[int, ...], given: bool) -> list[int]:
        """The sizes to measure for the asked n_jobs ``values``."""
        return list(values)

    def workers(self, n_jobs: int) -> int:
        raise NotImplementedError

    def make_cold(self, n_jobs: int) -> float:
        """Make the point cold; return the cluster start-up seconds (NaN for none)."""
        return math.nan

    def config(self, n_jobs: int, inner_threads: int | None = None):
        """joblib's configuration for the point, as a context manager; ``inner_threads``
        limits the BLAS/OpenMP threads of the backend's workers where it can."""
        raise NotImplementedError

    @contextmanager
    def around_call(self, loops: int, timeout: float | None) -> Iterator[None]:
        """Around every call: nothing for local backends."""
        yield

    def run_on_workers(self, function, *args) -> list | None:
        """``function(*args)`` run in every worker process of the cluster, with the results;
        None for a backend whose workers the kernel's own observer sees (local backends)."""
        return None
