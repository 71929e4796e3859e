"""Threads: more threads running or ready to run at once than usable cores (oversubscription),
where they ran (the kernel, its workers) and why, each cause backed by a count."""

from __future__ import annotations

import math

from .._threads import THREAD_VARIABLES, oversubscribed, threads_at_once, time_over_cores
from ..timing import ConfigTiming
from ._base import Context, Finding, finding
from .ran import THREADED, more_workers_than_asked

# The kernel runs more threads than its share (its thread workers, or none beside process
# workers) when it runs this many more at once on average.
KERNEL_EXTRA = 0.5


def oversubscription(config: ConfigTiming, context: Context) -> Finding | None:
    """More threads ran (or, where they were not counted, could run) at once than there are
    usable cores: where they ran (the kernel, the workers) and why, as measured."""
    usable = context.usable
    if not oversubscribed(config, usable):
        return None
    causes, fixes = _thread_causes(config, context)
    where = _where_threads_ran(config)
    why = f"; {'; '.join(causes)}" if causes else ""
    fix = f"; {', or '.join(dict.fromkeys(fixes))}" if fixes else ""
    return finding(
        oversubscription,
        f"oversubscription at {config.name}: {threads_at_once(config)} on {usable} usable "
        f"cores{time_over_cores(config)} ({where}{why}). Too many threads slow each other "
        f"down{fix}.",
        total_threads=config.total_threads,
        runnable_threads=config.runnable_threads,
        oversubscribed_share=config.oversubscribed_share,
        kernel_runnable_threads=config.kernel_runnable_threads,
        worker_runnable_threads=config.worker_runnable_threads,
        busy_worker_runnable_threads=config.busy_worker_runnable_threads,
        usable=usable,
    )


def _where_threads_ran(config: ConfigTiming) -> str:
    kernel = config.kernel_runnable_threads
    if math.isnan(kernel):
        return "estimated from the thread pools, not counted"
    return (
        f"{kernel:.1f} in the kernel process and "
        f"{config.runnable_threads - kernel:.1f} in its child processes on average"
    )


def _above(value: str, limit: int) -> bool:
    try:
        return int(value) > limit
    except ValueError:  # not a number (OpenMP accepts lists): it may well be above
        return True


def _thread_causes(config: ConfigTiming, context: Context) -> tuple[list[str], list[str]]:
    """(causes, fixes) of an oversubscribed point, each backed by a measured number or by
    the settings the run was made with."""
    usable = context.usable
    causes, fixes = [], []
    pools = "try --inner-threads 1 (or auto)"
    if config.on_cluster:
        pools = "start the cluster's workers with OMP_NUM_THREADS=1 (--inner-threads limits "
        pools += "only the kernel there)"
    # joblib gives each of k workers usable // k BLAS/OpenMP threads; a user's value above
    # that overrides it (a value at or below it cannot add threads).
    limit = max(usable // max(config.workers, 1), 1)
    user_set = [
        f"{name}={context.environ[name]}"
        for name in THREAD_VARIABLES
        if name in context.environ and _above(context.environ[name], limit)
    ]
    if user_set and context.inner_threads is None:
        causes.append(
            f"you set {', '.join(user_set)}, above joblib's limit of {limit} per worker, "
            "which it overrides"
        )
        fixes.append(pools)
    if config.workers > usable:
        causes.append(f"{config.workers} workers were asked for on {usable} usable cores")
        fixes.append(f"ask for at most {usable} workers")
    inner = max(config.worker_effective_n_jobs, default=1)
    if inner > 1:
        causes.append(f"the workers' own joblib calls ran with n_jobs={inner}")
    elif more_workers_than_asked(config):
        causes.append(f"{config.workers_used} processes or threads did work")
    elif context.nested_n_jobs:
        causes.append("the statement sets n_jobs on a call inside another call that sets it")
    if inner > 1 or more_workers_than_asked(config) or context.nested_n_jobs:
        fixes.append("set n_jobs on one level only")
    kernel = config.kernel_runnable_threads
    hosts = config.workers if config.ran_threads else 0  # thread workers run in the kernel
    if not math.isnan(kernel) and kernel > hosts + KERNEL_EXTRA:
        share = f"for its {hosts} worker threads" if hosts else "besides its worker processes"
        cause = f"the kernel process ran {kernel:.1f} threads at once on average {share}"
        if (config.kernel_threads or 1) > 1:
            shared = " that thread workers share without a limit" if hosts else ""
            cause += f", with BLAS/OpenMP pools of {config.kernel_threads} threads{shared}"
            fixes.append(pools)
        causes.append(cause)
    inside = config.busy_worker_runnable_threads
    if not math.isnan(inside) and inside >= THREADED:
        cause = (
            f"a worker process ran {inside:.1f} threads at once on average while it worked, "
            f"at most {config.worker_runnable_threads}"
        )
        if (config.worker_threads or 1) > 1:
            cause += f", with BLAS/OpenMP pools of {config.worker_threads} threads"
            fixes.append(pools)
        causes.append(cause)
    elif math.isnan(config.runnable_threads) and (config.worker_threads or 1) > 1:
        causes.append(f"each worker runs {config.worker_threads} BLAS/OpenMP threads")
        fixes.append(pools)
    return causes, fixes
