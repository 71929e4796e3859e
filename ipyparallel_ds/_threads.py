"""BLAS/OpenMP thread pools: what each process has, and how many threads could run at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

__all__ = ["THREAD_VARIABLES", "oversubscribed", "thread_pools", "with_threads"]

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


def oversubscribed(config: Any, usable: int | None) -> bool:
    """Whether more threads could run at once at a parallel point than there are usable
    cores (unknown cores: never)."""
    return bool(
        config.workers > 1 and config.total_threads and usable and config.total_threads > usable
    )
