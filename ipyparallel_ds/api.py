"""The front door of the engine: :func:`parcompare` for scripts, and :func:`run`, which the
magic and the command call with a statement and a plan they have already checked.

Pure Python: nothing here knows about IPython. The magic passes code that IPython has already
transformed; scripts call :func:`parcompare` with plain Python.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _options, _pools, _validate, backends, checks
from ._events import Interrupted
from ._memory import MAX_INTERVAL, ProcessTree, memory_limit, sampling_interval
from ._observe import Observer
from ._points import Point
from ._probe import choose, probe
from ._sizes import DataError, run_sizes
from ._threads import THREAD_VARIABLES, with_threads
from .environment import collect, usable_cores
from .plan import Plan, plan_points
from .prediction import parallel_backend
from .progress import SweepProgress
from .result import ParCompareResult, build_result, partial_result
from .same_result import compare_all, compare_results
from .statement import PreparedStatement, compile_plain, prepare, preset_n_jobs
from .sweep import SweepData, sweep
from .timer import StatementTimer

__all__ = [
    "DataError",
    "Invocation",
    "SweepInterrupted",
    "parcompare",
    "parse_invocation",
    "partial_result",
    "run",
]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep after something was measured; ``result`` holds what was.

    :func:`run` raises it when asked to (the magic does, so that the cell stops as after any
    Ctrl-C, once the partial table is shown); after it, ``sys.last_value.result`` is the
    partial result in IPython.
    """

    def __init__(self, result: ParCompareResult) -> None:
        super().__init__("%parcompare was interrupted; the partial result is in .result")
        self.result = result


@dataclass(frozen=True)
class Invocation:
    """What the magic's options ask for besides the statement: the plan, the digits shown,
    and where to save. Built by :func:`parse_invocation`."""

    plan: Plan
    precision: int
    save: str | None
    quiet: bool


def parse_invocation(options: dict[str, str]) -> Invocation:
    """Validate parsed options (keyed as :attr:`~ipyparallel_ds._options.Option.key`), the
    one translation the magic and the command share; raises ValueError naming a bad value."""
    plan = Plan.from_options(**_options.plan_arguments(options))
    precision = _validate.parse_count("-p", options.get("p", _options.DEFAULT_PRECISION), minimum=1)
    save = _validate.parse_save_path(options["save"]) if "save" in options else None
    return Invocation(plan, precision, save, "q" in options)


def run(
    prepared: PreparedStatement,
    plan: Plan,
    namespace: dict[str, Any],
    *,
    compiler: Callable[..., Any] = compile_plain,
    precision: int = _options.DEFAULT_PRECISION,
    progress: Callable[[SweepProgress], None] | None = None,
    raise_interrupt: bool = False,
) -> ParCompareResult:
    """Run a sweep of a prepared statement and build its result.

    joblib's configuration is only changed inside context managers; no worker pool is left
    running that was not running before, and every cluster started here is stopped. After
    Ctrl-C the partial result is returned, or, with ``raise_interrupt``, raised as
    :class:`SweepInterrupted` once all of that is done. A data-size sweep whose ``--data``
    does not fit the namespace raises :class:`DataError` (a ValueError) before anything runs.
    """
    if plan.data:  # a data-size sweep: this function at each size
        result, stopped = run_sizes(
            plan,
            namespace,
            lambda one, local: run(
                prepared, one, local, compiler=compiler, precision=precision,
                progress=progress, raise_interrupt=True,
            ),
        )  # fmt: skip
    else:
        with (
            _pools.restoring_pool_state(),
            backends.opened(backends.make_runners(plan)) as runners,
        ):
            args = (prepared, plan, namespace, runners, compiler, precision, progress)
            result, stopped = _run(*args)
    if stopped and raise_interrupt:
        raise SweepInterrupted(result)
    return result


def _cold_start(runner: backends.Runner, point: Point, observer: Observer) -> float:
    """Make the point cold, then watch the calls inside its (fresh) workers."""
    startup = runner.make_cold(point.n_jobs)
    observer.watch_workers(point, runner)
    return startup


def _run(prepared, plan, namespace, runners, compiler, precision, progress):
    """The sweep and its result, and whether Ctrl-C stopped it."""
    by_name: dict[str, backends.Runner] = {r.name: r for r in runners}
    if plan.shared_baseline:
        by_name[backends.SERIAL] = backends.traits(backends.SERIAL)()
    points, workers = plan_points(plan, runners)
    keep_values = plan.check if plan.check is not None else prepared.returns_value
    inner_threads = plan.inner_threads
    if inner_threads == "auto":
        inner_threads = max(usable_cores() // max(workers.values()), 1)
    timer = StatementTimer(
        prepared,
        namespace,
        compiler=compiler,
        keep_values=keep_values,
        inner_threads=inner_threads,
        runners=by_name,
        timeout=plan.timeout,
    )
    threads: dict[Point, dict[str, list]] = {}
    interval = _memory_interval(plan.memory, max(workers.values()))
    with Observer(workers, interval) as observer:
        data = sweep(
            plan,
            timer,
            points=points,
            workers_of=workers.__getitem__,
            cold_start=lambda point: _cold_start(by_name[point.backend], point, observer),
            progress=progress,
            observer=observer,
            skip=memory_limit(observer, plan.max_memory),
            after_point=lambda point, count: threads.__setitem__(
                point, timer.thread_report(point, count)
            ),
            isolate_backends=len(plan.backends) > 1,
        )
    if not data.configs:
        raise KeyboardInterrupt("%parcompare was interrupted before anything was measured")
    remote = {r.name for r in runners if r.remote}
    configs = [
        with_threads(
            observer.fields(c, observed_workers=c.backend not in remote),
            threads.get(Point(c.backend, c.n_jobs)),
            prepared.nested_n_jobs,
        )
        for c in data.configs
    ]
    results_equal, context = _context(prepared, namespace, data, configs, runners, timer)
    stopped = any(isinstance(event, Interrupted) for event in data.events)
    return build_result(
        prepared.statement,
        configs,
        data.baseline_index,
        setup=prepared.setup,
        n_jobs_keywords=prepared.n_jobs_keywords,
        interleaved=data.interleaved,
        interrupted=data.interrupted_at is not None,
        results_equal=results_equal,
        kernel_memory=observer.kernel_baseline,
        inner_threads=inner_threads,
        environment=collect(),
        precision=precision,
        clusters=[dict(r.info) for r in runners if r.is_cluster and r.info],
        context=context,
        probes={}
        if data.interrupted_at is not None
        else _probes(configs, data.baseline_index, observer, runners),
        predict_workers=plan.predict,
        budget=plan.budget,
        sweep_seconds=data.seconds,
    ), stopped


def _probes(configs, baseline_index: int, observer: Observer, runners) -> dict[str, dict]:
    """The probe of each local backend the serial run's calls used, with copies of a spread of
    the tasks of that backend's longest call (:func:`._probe.choose`), when no parallel
    value's tasks were timed (the prediction then has nothing else to go on)."""
    base, usable = configs[baseline_index], usable_cores()
    # Only for a serial sweep (-j 1): a parallel value, even one that failed or ran out of
    # time, says more than a probe, and a cluster is not this machine.
    if usable < 2 or not base.tasks or any(c.workers > 1 or c.on_cluster for c in configs):
        return {}
    if any(r.is_cluster for r in runners):
        return {}
    samples = observer.samples(base)
    chosen: dict[str, tuple] = {}
    for position, call in enumerate(base.tasks):
        name = parallel_backend(call.backend, configs)
        local = name in backends.names() and not backends.traits(name).is_cluster
        if local and call.timed and call.work > chosen.get(name, (0.0,))[0]:
            chosen[name] = (call.work, position, call)
    probes = {}
    for name, (_, position, call) in chosen.items():
        tasks = samples[position] if position < len(samples) else []
        picked = choose(list(call.durations), usable) if len(tasks) == call.tasks else []
        try:
            probes[name] = probe(
                name, usable, [tasks[i] for i in picked], [call.durations[i] for i in picked]
            ).to_dict()
        except Exception:  # a probe that cannot run leaves the prediction without it
            continue
    return probes


def _context(prepared, namespace, data: SweepData, configs, runners, timer):
    """Whether every point returned the baseline's result, and what the checks look at."""
    results_equal, differing, unchecked = None, (), ()
    base = configs[data.baseline_index]
    if timer.keep_values:
        names = {Point(c.backend, c.n_jobs): c.name for c in configs}
        baseline = Point(base.backend, base.n_jobs)
        results_equal, points = compare_results(timer.first_values, baseline)
        differing = tuple(names.get(p, f"n_jobs={p.n_jobs}") for p in points)
        comparisons = compare_all(timer.first_values, baseline).values()
        unchecked = tuple(dict.fromkeys(p for c in comparisons for p in c.not_checked))
    context = checks.Context(
        events=tuple(data.events),
        runner_events=tuple(e for r in runners for e in r.events),
        preset=preset_n_jobs(prepared, namespace),
        setup_n_jobs_keywords=prepared.setup_n_jobs_keywords,
        nested_n_jobs=prepared.nested_n_jobs,
        inner_threads=timer.inner_threads,
        environ={name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ},
        differing=differing,
        not_checked=unchecked,
        baseline_name=base.name,
    )
    return results_equal, context


def _memory_interval(choice: bool | None, max_workers: int) -> float | None:
    """Sampling interval, or None for no sampling: when not asked for (``--memory``), memory is
    sampled only where that costs under 5 % of the machine."""
    if choice is False:
        return None
    tree = ProcessTree()
    processes = 1 + len(tree.children())
    per_process = tree.sample_cost() / processes
    interval = sampling_interval(per_process * (1 + max_workers), usable_cores())
    if interval is None and choice:
        return MAX_INTERVAL
    return interval


def parcompare(
    stmt: str,
    setup: str = "pass",
    *,
    n_jobs: int | Sequence[int] | str | None = None,
    number: int = 0,
    repeat: int | None = None,
    namespace: dict[str, Any] | None = None,
    quiet: bool = False,
    precision: int = _options.DEFAULT_PRECISION,
    memory: bool | None = None,
    max_memory: str | float = _options.DEFAULT_MAX_MEMORY,
    check: bool | None = None,
    inner_threads: int | str | None = None,
    backend: str | Sequence[str] | None = None,
    cluster: str | None = None,
    scheduler: str | None = None,
    profile: str | None = None,
    cluster_id: str | None = None,
    address: str | None = None,
    timeout: float | None = None,
    predict: int | Sequence[int] | str | None = None,
    budget: float | None = None,
    data: str | Sequence[str] | None = None,
    sizes: str | Sequence[float] | None = None,
) -> ParCompareResult:
    """Time ``stmt`` at several n_jobs values and compare them.

    The Python counterpart of ``%parcompare``: the magic is a thin layer over this function.

    Parameters
    ----------
    stmt : str
        The statement to time, e.g. ``"cross_val_score(SVC(), X, y, cv=20)"``.
    setup : str, default "pass"
        Code run before each timed run and not timed, as in ``timeit``.
    n_jobs : int, sequence of int or str, optional
        The values to compare, e.g. ``[1, 2, -1]`` or ``"1,2,-1"``. Default: 1, 2, 4, ...
        doubling up to and including the usable core count.
    number : int, default 0
        Loops per timed run; 0 chooses as ``%timeit`` does (a run lasts 0.2 s at least).
    repeat : int, optional
        Timed runs per value. Default: rounds until the answer is settled (the speedup's
        95 % interval within 8 % of it, below 1, or below an earlier value's), 2 to 5.
    namespace : dict, optional
        Globals the statement runs in (default: the caller's); its assignments do not leak.
    quiet, precision : bool, int
        Print nothing (default: the report); significant digits of the times shown (3).
    memory : bool, optional
        Sample the memory of the kernel and its workers during the timed runs (Σ PSS on
        Linux). Default: when sampling costs under 5 % of the machine.
    max_memory : str or float, default "80%"
        Skip an n_jobs value whose estimated peak memory exceeds this: a share of the memory
        the kernel and its workers can use (``"80%"``), or a size (``"4G"``, bytes as a number).
    check : bool, optional
        Compare each value's result with the baseline's (default: when it ends with one).
    inner_threads : int or "auto", optional
        BLAS/OpenMP threads of every worker (``inner_max_num_threads``) and of the kernel,
        restored afterwards; ``"auto"``: usable cores over the most workers asked.
    backend : str or sequence of str, optional
        joblib backends to compare, e.g. ``"loky,threading"`` or ``["loky", "dask"]``:
        loky, threading, multiprocessing, dask, ipyparallel, ray. n_jobs=1 then runs once, as
        the serial baseline of every backend. Default: joblib's active backend.
    cluster : "local", optional
        For dask, ipyparallel or ray: start a cluster on this machine, size it to each n_jobs
        value (the number of cluster workers, or Ray's CPUs), and stop it afterwards.
    scheduler, address : str, optional
        A running cluster, measured at its size: a dask scheduler (``"tcp://host:8786"``), or
        a Ray cluster this machine is a node of (``"127.0.0.1:6379"``, its CPUs).
    profile, cluster_id : str, optional
        A running ipyparallel cluster (``ipcluster start --profile NAME --cluster-id ID``);
        each n_jobs value up to its engine count is measured through a view of that many
        engines.
    timeout : float, optional
        Deadline in seconds of each call on a cluster (default: 10 serial calls, ≥ 60 s).
    predict : int, sequence of int or str, optional
        Worker counts to predict from the measured tasks (``result.predictions``, the chart's
        predicted line), e.g. ``[4, 8, 16, 64]``. Default: 1 to four times the usable cores.
    budget : float, optional
        Seconds for the whole sweep, first calls included; it ends within the budget plus at
        most one call, every value measured at least once warm. Default: no limit.
    data, sizes : str or sequence, optional
        A data-size sweep: the names of the arrays to cut (``"X,y"``) and the sizes,
        fractions of their rows or row counts (default ``"0.1,0.3,1"``); see
        ``result.size_configs``, ``result.break_even_rows`` and ``result.size_fits``.

    Returns
    -------
    ParCompareResult

    Raises
    ------
    ValueError, SyntaxError
        Before anything runs: a bad option or ``data`` (naming the bad value), bad code.

    Notes
    -----
    The statement runs inside ``joblib.parallel_config(n_jobs=k)``, which reaches every
    scikit-learn/joblib call whose ``n_jobs`` is unset; literal ``n_jobs=`` keywords in the
    statement are rewritten to ``k``. Ctrl-C stops the sweep and returns what was measured.

    Examples
    --------
    >>> from ipyparallel_ds import parcompare
    >>> result = parcompare("cross_val_score(SVC(), X, y, cv=5)", n_jobs=[1, 2])  # doctest: +SKIP
    >>> result.configs[1].speedup  # doctest: +SKIP
    1.8
    """
    plan = Plan.from_options(
        n_jobs, number, repeat, memory=memory, max_memory=max_memory, check=check,
        inner_threads=inner_threads, backend=backend, cluster=cluster, scheduler=scheduler,
        profile=profile, cluster_id=cluster_id, address=address, timeout=timeout,
        predict=predict, budget=budget, data=data, sizes=sizes,
    )  # fmt: skip
    digits = _validate.parse_count("precision (-p)", precision, minimum=1)
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    prepared = prepare(stmt, setup)
    result = run(prepared, plan, namespace, precision=digits)
    if not quiet:
        print(result.report())
    return result
