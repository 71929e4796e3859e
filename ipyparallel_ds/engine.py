"""The measuring engine: time one statement at several n_jobs values.

Pure Python: nothing here knows about IPython. The magic passes code that IPython has already
transformed; scripts call :func:`parcompare` with plain Python.

How a sweep measures (see ``docs/how-it-measures.md``):

1. The baseline (n_jobs=1, or the value with the fewest workers) is called once.
2. For each other value: the reusable worker pool is shut down, so the **first call** includes
   starting the workers; then **warm-up** calls run until a call is no longer more than 10 %
   faster than the one before (at least two, at most five); then the loop count is calibrated as in
   ``%timeit``; then the **timed runs**. When the baseline runs serially in this process (it
   then needs no worker pool), each timed run of the value is paired with a timed run of the
   baseline, so that a drift in machine speed hits both sides of the speedup alike. With
   ``repeat`` unset, rounds go on until the speedup's 95 % interval is within 5 % of it
   (3 to 5 rounds).
"""

from __future__ import annotations

import ast
import copy
import gc
import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from . import _options
from ._backends import DeadlineExceeded, Point, Runner
from .result import (
    ConfigTiming,
    ParCompareResult,
    bootstrap_ratio_ci,
    median,
    point_name,
    stability_warnings,
    with_speedups,
)

__all__ = [
    "Plan",
    "Point",
    "PreparedStatement",
    "StatementTimer",
    "SweepProgress",
    "build_result",
    "parcompare",
    "prepare",
    "run",
    "sweep",
]

MIN_RUN_SECONDS = 0.2  # as %timeit: one timed run lasts at least this long
# A fresh pool's second and third calls are still slow (see FIELD-NOTES), so at least two
# warm-up calls, then more while calls keep getting faster.
MIN_WARMUP_CALLS = 2
MAX_WARMUP_CALLS = 5
WARM_TOLERANCE = 0.10  # warm once a call is no longer more than 10 % faster than the last


class Timer(Protocol):
    """Something that runs ``number`` loops of the statement at a point (backend, n_jobs) and
    returns the total seconds. The real one is :class:`StatementTimer`; tests pass synthetic
    ones."""

    def __call__(self, point: Point, number: int) -> float: ...


# -- the statement ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedStatement:
    """Parsed, checked statement and setup code, ready to be timed.

    ``n_jobs_keywords`` counts the literal ``n_jobs=`` keywords of the statement (rewritten
    to each value), ``nested_n_jobs`` says whether one of them sits inside the arguments of
    another call that has one, and ``setup_n_jobs_keywords`` counts those of the setup code,
    which are not rewritten.
    """

    statement: str
    setup: str
    stmt_ast: ast.Module
    setup_ast: ast.Module
    n_jobs_keywords: int
    nested_n_jobs: bool = False
    setup_n_jobs_keywords: int = 0

    @property
    def returns_value(self) -> bool:
        """Whether the statement ends with an expression (whose value can be compared)."""
        return bool(self.stmt_ast.body) and isinstance(self.stmt_ast.body[-1], ast.Expr)

    def names(self) -> list[str]:
        """Names the statement reads (to look for objects built before it)."""
        found = []
        for node in ast.walk(self.stmt_ast):
            is_read = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
            if is_read and node.id not in found:
                found.append(node.id)
        return found


def _parse(code: str | ast.Module, what: str) -> ast.Module:
    if isinstance(code, ast.Module):
        return code
    if not isinstance(code, str):
        raise TypeError(f"the {what} must be a string of Python code, got {type(code).__name__}")
    return ast.parse(code, filename=f"<parcompare-{what}>", mode="exec")


class _NJobsKeywords(ast.NodeTransformer):
    """Set every literal ``n_jobs=`` keyword of a call to ``value`` (or only count them)."""

    def __init__(self, value: int | None = None) -> None:
        self.value = value
        self.count = 0

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        for keyword in node.keywords:
            if keyword.arg == "n_jobs":
                self.count += 1
                if self.value is not None:
                    keyword.value = ast.copy_location(ast.Constant(self.value), keyword.value)
        return node


def prepare(
    stmt: str | ast.Module,
    setup: str | ast.Module = "pass",
    *,
    compiler: Callable[..., Any] = compile,
    source: tuple[str, str] | None = None,
) -> PreparedStatement:
    """Parse and compile the statement and setup before anything runs.

    Parameters
    ----------
    stmt, setup : str or ast.Module
        Python code. The magic passes modules already transformed by IPython.
    compiler : callable
        ``compile``-like function (IPython passes its own, which keeps ``__future__`` flags).
    source : (str, str), optional
        The statement and setup as the user wrote them, when ``stmt``/``setup`` are ASTs.

    Raises
    ------
    SyntaxError
        If either piece of code does not compile.
    ValueError
        If the statement is empty.
    """
    if isinstance(stmt, str) and not stmt.strip():
        raise ValueError("there is no statement to time: give one, e.g. %parcompare f(X, y)")
    stmt_ast = _parse(stmt, "statement")
    setup_ast = _parse(setup, "setup")
    if not stmt_ast.body:
        raise ValueError(f"the statement {stmt!r} has no code to time (only comments?)")
    # Compile each piece alone first, as %timeit does: code that is invalid on its own can
    # become valid inside the timing function and give confusing errors there.
    compiler(stmt_ast, "<parcompare-statement>", "exec")
    compiler(setup_ast, "<parcompare-setup>", "exec")
    counter = _NJobsKeywords()
    counter.visit(copy.deepcopy(stmt_ast))
    setup_counter = _NJobsKeywords()
    setup_counter.visit(copy.deepcopy(setup_ast))
    if source is None:
        source = (
            stmt if isinstance(stmt, str) else ast.unparse(stmt_ast),
            setup if isinstance(setup, str) else ast.unparse(setup_ast),
        )
    return PreparedStatement(
        source[0],
        source[1],
        stmt_ast,
        setup_ast,
        counter.count,
        nested_n_jobs=_has_nested_n_jobs(stmt_ast),
        setup_n_jobs_keywords=setup_counter.count,
    )


def _sets_n_jobs(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and any(k.arg == "n_jobs" for k in node.keywords)


def _has_nested_n_jobs(tree: ast.AST) -> bool:
    """Whether a call with ``n_jobs=`` has another such call among its arguments."""
    for node in ast.walk(tree):
        if _sets_n_jobs(node):
            inner = [*node.args, *(k.value for k in node.keywords)]
            if any(_sets_n_jobs(sub) for arg in inner for sub in ast.walk(arg)):
                return True
    return False


_TEMPLATE = """
def inner(_it, _timer):
    setup
    _parcompare_value = None
    _t0 = _timer()
    for _i in _it:
        stmt
    _t1 = _timer()
    return _t1 - _t0, _parcompare_value
"""
_VALUE = "_parcompare_value"


def _keeping_value(stmt: ast.Module) -> ast.Module:
    """The statement with its final expression's value stored in ``_parcompare_value``, so
    that results can be compared across n_jobs values (one local assignment per loop)."""
    if stmt.body and isinstance(stmt.body[-1], ast.Expr):
        last = stmt.body[-1]
        target = ast.Name(id=_VALUE, ctx=ast.Store())
        stmt.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
    return stmt


class _FillTemplate(ast.NodeTransformer):
    """Put setup and statement ASTs into the timing function, as IPython's %timeit does,
    so that assignments in the statement stay local to it."""

    def __init__(self, setup: ast.Module, stmt: ast.Module) -> None:
        self.setup = setup
        self.stmt = stmt

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if node.name == "inner":
            node.body[:1] = self.setup.body or [ast.Pass()]
        return node

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name) and node.target.id == "_i":
            node.body = self.stmt.body
        return node


class StatementTimer:
    """Times loops of a prepared statement in a namespace, with n_jobs reaching the code.

    Each call at a point runs inside that point's joblib configuration (its runner's
    ``parallel_config``, ``n_jobs=k`` for the local backends), which reaches every joblib call
    whose n_jobs is unset, and uses a copy of the statement whose literal ``n_jobs=`` keywords
    are set to ``k``. The garbage collector is off while timing, as in ``%timeit``. The
    namespace is used as globals; names the statement assigns stay local. Calls on a cluster
    get a deadline: ``timeout`` seconds per call, or, when it is None, a multiple of the
    slowest serial call seen so far.
    """

    def __init__(
        self,
        prepared: PreparedStatement,
        namespace: dict[str, Any],
        *,
        clock: Callable[[], float] = time.perf_counter,
        compiler: Callable[..., Any] = compile,
        keep_values: bool = False,
        inner_threads: int | None = None,
        runners: dict[str, Runner] | None = None,
        timeout: float | None = None,
    ) -> None:
        self.prepared = prepared
        self.inner_threads = inner_threads
        self.namespace = namespace
        self.clock = clock
        self.compiler = compiler
        self.keep_values = keep_values
        self.runners = runners or {}
        self.timeout = timeout
        self.serial_call = 0.0  # slowest per-loop time of a serial (n_jobs=1) call in the kernel
        self.first_values: dict[Point, Any] = {}
        self._functions: dict[int, Callable[..., tuple[float, Any]]] = {}

    def _function(self, n_jobs: int) -> Callable[..., float]:
        if n_jobs not in self._functions:
            stmt = _NJobsKeywords(n_jobs).visit(copy.deepcopy(self.prepared.stmt_ast))
            if self.keep_values:
                stmt = _keeping_value(stmt)
            setup = copy.deepcopy(self.prepared.setup_ast)
            tree = _FillTemplate(setup, stmt).visit(ast.parse(_TEMPLATE))
            code = self.compiler(ast.fix_missing_locations(tree), "<parcompare>", "exec")
            local: dict[str, Any] = {}
            had_builtins = "__builtins__" in self.namespace
            exec(code, self.namespace, local)
            if not had_builtins:  # exec() adds it; leave the namespace as it was
                self.namespace.pop("__builtins__", None)
            self._functions[n_jobs] = local["inner"]
        return self._functions[n_jobs]

    def _runner(self, point: Point) -> Runner | None:
        return self.runners.get(point.backend)

    def _config(self, point: Point):
        """joblib's configuration for the point and, with ``inner_threads``, the thread
        limits: ``inner_max_num_threads`` for loky's workers, threadpoolctl in the kernel."""
        from contextlib import ExitStack

        from joblib import parallel_config

        runner = self._runner(point)
        stack = ExitStack()
        if runner is not None:
            stack.enter_context(runner.config(point.n_jobs, self.inner_threads))
        else:
            stack.enter_context(parallel_config(n_jobs=point.n_jobs))
        if self.inner_threads is not None:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=self.inner_threads))
        return stack

    def deadline(self) -> float | None:
        """Seconds allowed per call on a cluster."""
        if self.timeout is not None:
            return self.timeout
        if not self.serial_call:
            return None
        return max(_options.MIN_TIMEOUT, _options.TIMEOUT_FACTOR * self.serial_call)

    def thread_report(self, point: Point, workers: int) -> dict[str, list]:
        """BLAS/OpenMP pools (api, threads) in the kernel and, through a tiny task on the same
        configuration, in a worker; run outside the timed region, on the warm pool."""
        from joblib import Parallel, delayed

        runner = self._runner(point)
        guard = runner.guard(1, self.deadline()) if runner is not None else nullcontext()
        with guard, self._config(point):
            report = {"kernel": _thread_pools(), "worker": []}
            if workers > 1:
                report["worker"] = Parallel()(delayed(_thread_pools)() for _ in range(1))[0]
        return report

    def __call__(self, point: Point, number: int) -> float:
        inner = self._function(point.n_jobs)
        runner = self._runner(point)
        on_cluster = runner is not None and runner.is_cluster
        guard = runner.guard(number, self.deadline()) if on_cluster else nullcontext()
        with guard, self._config(point):
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                seconds, value = inner(itertools.repeat(None, number), self.clock)
            finally:
                if gc_was_enabled:
                    gc.enable()
        if not on_cluster and point.n_jobs == 1:
            self.serial_call = max(self.serial_call, seconds / number)
        if self.keep_values and point not in self.first_values:
            self.first_values[point] = value
        return seconds


def _thread_pools() -> list[tuple[str, int]]:
    """(internal API, threads) of each BLAS/OpenMP pool loaded in this process."""
    from threadpoolctl import threadpool_info

    return [(pool["internal_api"], int(pool["num_threads"])) for pool in threadpool_info()]


# -- the plan --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Validated options of a sweep. ``repeat=None`` means: as many rounds as needed.

    ``backends`` is empty for joblib's active backend; ``cluster``, ``scheduler``,
    ``profile`` and ``cluster_id`` say where the dask or ipyparallel backend runs, and
    ``timeout`` is the deadline of each call there (None: from the serial call).
    ``n_jobs_given`` says whether the n_jobs values were asked or are the default.
    """

    n_jobs: tuple[int, ...]
    number: int = 0
    repeat: int | None = None
    memory: bool | None = None  # None: sample when it is cheap
    max_memory: tuple[str, float] = _options.parse_max_memory(_options.DEFAULT_MAX_MEMORY)
    check: bool | None = None  # None: compare results when the statement returns a value
    inner_threads: int | str | None = None  # threads per worker and kernel; "auto"; None
    backends: tuple[str, ...] = ()
    cluster: str | None = None
    scheduler: str | None = None
    profile: str | None = None
    cluster_id: str | None = None
    timeout: float | None = None
    n_jobs_given: bool = True

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
        timeout: object = None,
    ) -> Plan:
        """Validate user options; raises ValueError naming the bad value."""
        values = default_n_jobs() if n_jobs is None else _options.parse_n_jobs(n_jobs)
        loops = _options.parse_count("number (-n)", number, minimum=0)
        runs = None if repeat is None else _options.parse_count("repeat (-r)", repeat, minimum=1)
        limit = _options.parse_max_memory(max_memory)
        threads = None if inner_threads is None else _options.parse_inner_threads(inner_threads)
        backends = () if backend is None else _options.parse_backends(backend)
        _options.check_cluster_options(backends, cluster, scheduler, profile, cluster_id)
        seconds = None if timeout is None else _options.parse_timeout(timeout)
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
            seconds,
            n_jobs is not None,
        )

    @property
    def shared_baseline(self) -> bool:
        """Whether one serial n_jobs=1 baseline is shared by several backends or a cluster."""
        return len(self.backends) > 1 or any(b in _options.CLUSTER_BACKENDS for b in self.backends)


def default_n_jobs(usable: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... doubling up to and including the usable core count."""
    if usable is None:
        from .environment import usable_cores

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


# -- the sweep -------------------------------------------------------------------------------
@dataclass
class _ValueState:
    point: Point
    workers: int
    first_call: float = float("nan")
    startup: float = float("nan")
    warmup: list[float] | None = None
    settled: bool = True
    loops: int = 0
    runs: list[float] | None = None
    paired: list[float] | None = None

    def timing(self) -> ConfigTiming:
        return ConfigTiming(
            n_jobs=self.point.n_jobs,
            workers=self.workers,
            backend=self.point.backend,
            cluster_startup=self.startup,
            first_call=self.first_call,
            loops=self.loops,
            all_runs=tuple(self.runs or ()),
            warmup_calls=tuple(self.warmup or ()),
            warm_settled=self.settled,
            paired_baseline=tuple(self.paired or ()),
        )


@dataclass(frozen=True)
class SweepProgress:
    """Where a running sweep is, for progress displays.

    ``calls_total`` is an estimate (with ``repeat`` unset the number of rounds is not known in
    advance; the estimate assumes the most). ``completed`` holds the values measured so far
    (the baseline first), so a display can draw a partial chart.
    """

    n_jobs: int
    phase: str
    calls_done: int
    calls_total: int
    elapsed: float
    completed: tuple[ConfigTiming, ...] = ()
    backend: str = ""

    @property
    def remaining(self) -> float | None:
        """Estimated seconds left: the mean time per call so far times the calls left."""
        if not self.calls_done:
            return None
        return self.elapsed / self.calls_done * max(self.calls_total - self.calls_done, 0)


class _CountingTimer:
    """Wraps a timer to count calls and tell a progress callback about each one."""

    def __init__(self, timer: Timer, total: int, progress, clock=time.perf_counter) -> None:
        self.timer = timer
        self.total = total
        self.progress = progress
        self.clock = clock
        self.start = clock()
        self.done = 0
        self.point = Point("", 0)
        self.phase = ""

    def report(self, completed: tuple[ConfigTiming, ...] = ()) -> None:
        if self.progress is not None:
            self.total = max(self.total, self.done)
            self.progress(
                SweepProgress(
                    self.point.n_jobs,
                    self.phase,
                    self.done,
                    self.total,
                    self.clock() - self.start,
                    completed,
                    self.point.backend,
                )
            )

    def at(self, point: Point, phase: str) -> None:
        self.point, self.phase = point, phase
        self.report()

    def __call__(self, point: Point, number: int) -> float:
        seconds = self.timer(point, number)
        self.done += 1
        self.report()
        return seconds


def _estimated_calls(plan: Plan, states: list[_ValueState], interleave: bool) -> int:
    rounds = plan.repeat or _options.MAX_ROUNDS
    total = 1 + (0 if interleave else plan.repeat or _options.DEFAULT_REPEAT)
    for state in states[1:]:
        warm = 2 if state.workers > 1 else 0
        total += 1 + warm + rounds * (2 if interleave else 1)
    return total


@dataclass(frozen=True)
class SweepData:
    """Raw outcome of :func:`sweep`."""

    configs: list[ConfigTiming]
    baseline_index: int
    interleaved: bool
    interrupted_at: int | None
    notes: list[str]


def _warm_up(timer: Timer, point: Point, first: float, minimum: int) -> tuple[list[float], bool]:
    calls: list[float] = []
    previous = first
    while len(calls) < MAX_WARMUP_CALLS:
        current = timer(point, 1)
        calls.append(current)
        improving = current < (1.0 - WARM_TOLERANCE) * previous
        previous = current
        if len(calls) >= minimum and not improving:
            return calls, True
    return calls, False


def _calibrate(timer: Timer, point: Point, last_single_call: float, number: int) -> int:
    """Loops per run: as given, or as %timeit chooses (first power of ten lasting 0.2 s)."""
    if number:
        return number
    if last_single_call >= MIN_RUN_SECONDS:
        return 1
    for exponent in range(1, 10):
        loops = 10**exponent
        if timer(point, loops) >= MIN_RUN_SECONDS:
            return loops
    return loops


def sweep(
    plan: Plan,
    timer: Timer,
    *,
    points: Sequence[Point] | None = None,
    workers_of: Callable[[Point], int] | None = None,
    cold_start: Callable[[Point], float | None] = lambda point: None,
    progress: Callable[[SweepProgress], None] | None = None,
    observer: Any = None,
    skip: Callable[[Point, int], str | None] | None = None,
    after_value: Callable[[Point, int], None] | None = None,
    isolate_backends: bool = False,
) -> SweepData:
    """Measure the statement at every point (backend, n_jobs) of a plan.

    Parameters
    ----------
    plan : Plan
        The loops and repeats (and the n_jobs values, when ``points`` is not given).
    timer : Timer
        Runs loops of the statement at a point and returns the seconds taken.
    points : sequence of Point, optional
        What to measure. Default: each n_jobs value of the plan on joblib's active backend.
    workers_of : callable
        Effective worker count of a point.
    cold_start : callable
        Called before the first call of every point; the real one shuts the reusable pool
        down or scales a cluster, and returns the cluster's start-up seconds (or None).
    progress : callable, optional
        Called with a :class:`SweepProgress` when a phase starts and after every call.
    observer : optional
        ``timed_run(point, loops)`` is a context manager around each timed run (not the
        first call or warm-up) whose record gets the run's seconds, to find out what really
        ran; ``first_call(point)`` is one around each first call (memory only).
    skip : callable, optional
        Asked ``skip(point, workers)`` before each point but the baseline; a returned
        sentence skips the point and becomes a note (the memory guard).
    after_value : callable, optional
        Called ``after_value(point, workers)`` once a point's timed runs are done, while its
        pool is still warm (the thread report).
    isolate_backends : bool
        When several backends are compared: an exception at a point of a backend other than
        the baseline's becomes a note, that backend's other points are skipped, and the
        others still run. A missed deadline on a cluster is always handled that way.

    Other exceptions from the statement propagate with the point named in a note.
    ``KeyboardInterrupt`` stops the sweep; what was measured so far is returned.
    """
    if points is None:
        points = [Point("", k) for k in plan.n_jobs]
    if workers_of is None:
        workers_of = lambda point: effective_workers(point.n_jobs)  # noqa: E731
    states = [_ValueState(p, workers_of(p)) for p in points]
    baseline_index = min(range(len(states)), key=lambda i: (states[i].workers, i))
    base = states[baseline_index]
    interleave = base.workers == 1 and len(states) > 1
    order = [baseline_index] + [i for i in range(len(states)) if i != baseline_index]
    ordered = [states[i] for i in order]
    timer = counter = _CountingTimer(timer, _estimated_calls(plan, ordered, interleave), progress)
    notes: list[str] = []
    interrupted_at: Point | None = None
    failed: set[str] = set()
    current = base

    def timed_run(state: _ValueState) -> float:
        if observer is None:
            return timer(state.point, state.loops)
        with observer.timed_run(state.point, state.loops) as record:
            record.seconds = timer(state.point, state.loops)
        return record.seconds

    def measure(state: _ValueState, is_baseline: bool) -> None:
        nonlocal current
        point = state.point
        state.runs, state.paired = [], []
        counter.at(point, "first call")
        startup = cold_start(point)
        state.startup = float("nan") if startup is None else startup
        with observer.first_call(point) if observer is not None else nullcontext():
            state.first_call = timer(point, 1)
        if state.workers > 1:
            counter.at(point, "warm-up")
        # A serial call needs no workers: its first call is its warm-up.
        state.warmup, state.settled = (
            _warm_up(timer, point, state.first_call, minimum=MIN_WARMUP_CALLS)
            if state.workers > 1
            else ([], True)
        )
        last = state.warmup[-1] if state.warmup else state.first_call
        state.loops = _calibrate(timer, point, last, plan.number)
        counter.at(point, "timed runs")
        if is_baseline:
            if not interleave:  # otherwise its runs are paired with each point's runs
                for _ in range(plan.repeat or _options.DEFAULT_REPEAT):
                    base.runs.append(timed_run(base))
            if after_value is not None:
                after_value(point, base.workers)
            return
        for done in range(1, (plan.repeat or _options.MAX_ROUNDS) + 1):
            if interleave:
                current = base
                run = timed_run(base)
                base.runs.append(run)
                state.paired.append(run / base.loops)
                current = state
            state.runs.append(timed_run(state))
            if plan.repeat is None and done >= _options.MIN_ROUNDS:
                reference = state.paired if interleave else base.timing().timings
                if _precise_enough(reference, state.timing().timings, interleave):
                    break
        if after_value is not None:
            after_value(point, state.workers)

    try:
        for index in order:
            current = state = states[index]
            is_baseline = index == baseline_index
            if state.point.backend in failed:
                continue
            reason = skip(state.point, state.workers) if skip and not is_baseline else None
            if reason:
                notes.append(reason)
                continue
            try:
                measure(state, is_baseline)
            except Exception as exc:
                own_fault = current is state and not is_baseline
                if not own_fault or not (
                    isinstance(exc, DeadlineExceeded)
                    or (isolate_backends and state.point.backend != base.point.backend)
                ):
                    raise
                failed.add(state.point.backend)
                notes.append(_backend_failure_note(state, exc))
                if math.isnan(state.first_call):
                    state.runs = None  # nothing measured: leave the point out
            counter.report(tuple(s.timing() for s in ordered if s.runs))
        if interleave and base.runs == [] and not math.isnan(base.first_call):
            # Every other point was skipped or failed: the baseline's runs were to be paired
            # with theirs, so it gets runs of its own.
            current = base
            for _ in range(plan.repeat or _options.DEFAULT_REPEAT):
                base.runs.append(timed_run(base))
    except KeyboardInterrupt:
        interrupted_at = current.point
        notes.append(_interrupt_note(current, plan))
    except Exception as exc:
        death = _worker_death(exc)
        if death is None:
            _add_note(exc, f"(raised while %parcompare ran the statement at {_name(current)})")
            raise
        interrupted_at = current.point
        notes.append(f"at {_name(current)} {death} The values measured before are kept.")
    # A stop between a baseline run and its partner leaves one unpaired baseline run.
    for state in states:
        if state.paired is not None and state.runs is not None:
            del state.paired[len(state.runs) :]
    # After an early stop, keep every value whose first call was measured, warm runs or not.
    measured = [
        i for i, s in enumerate(states) if s.runs is not None and not math.isnan(s.first_call)
    ]
    configs = [states[i].timing() for i in measured]
    new_baseline = measured.index(baseline_index) if baseline_index in measured else 0
    return SweepData(configs, new_baseline, interleave, interrupted_at, notes)


def _name(state: _ValueState) -> str:
    """How a point is named in notes: ``n_jobs=2``, ``n_jobs=2 (threading)``, ``dask with 2
    workers``."""
    return state.timing().name


def _backend_failure_note(state: _ValueState, exc: BaseException) -> str:
    backend = state.point.backend
    if isinstance(exc, DeadlineExceeded):
        return (
            f"{exc}. A task that keeps killing its worker can make joblib wait forever; the "
            f"{backend} backend's remaining sizes were skipped."
        )
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    hint = ""
    if "pickl" in detail.lower() or "serializ" in detail.lower():
        hint = (
            " Process and cluster backends send the work to other processes, so what the "
            "statement uses must be picklable (define functions in a module, not a lambda)."
        )
    return (
        f"the {backend} backend could not run the statement at {_name(state)} ({detail}); "
        f"it is left out and the other backends were measured.{hint}"
    )


def _precise_enough(reference: Sequence[float], timings: Sequence[float], paired: bool) -> bool:
    """Whether the speedup's 95 % interval is within the target precision of it."""
    low, high = bootstrap_ratio_ci(reference, timings, paired=paired)
    point = median(reference) / median(timings)
    return (high - low) / 2 <= _options.TARGET_PRECISION * point


_SIGNALS = {-9: "SIGKILL", -15: "SIGTERM", -11: "SIGSEGV", -6: "SIGABRT", -7: "SIGBUS"}


def _worker_death(exc: BaseException) -> str | None:
    """Plain words for a worker process that died (loky's TerminatedWorkerError), else None."""
    if type(exc).__name__ != "TerminatedWorkerError":
        return None
    import re

    codes = sorted({int(c) for c in re.findall(r"\((-?\d+)\)", str(exc))})
    named = ", ".join(f"{_SIGNALS.get(c, 'exit code')} ({c})" for c in codes) or "unknown"
    text = f"a worker process was killed ({named})"
    if -9 in codes:
        text += ": a SIGKILL usually means the system ran out of memory and its out-of-memory "
        text += "killer stopped the worker; try fewer workers or a smaller --max-memory."
    else:
        text += "."
    return text


def _interrupt_note(state: _ValueState, plan: Plan) -> str:
    done = len(state.runs or ())
    runs = f"{done} timed run{'s' if done != 1 else ''} done"
    return (
        f"interrupted while measuring {_name(state)} ({runs}); the table shows what "
        "was measured until then."
    )


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10 has no exception notes
        print(note, file=sys.stderr)


# -- the public entry point ------------------------------------------------------------------
def run(
    prepared: PreparedStatement,
    plan: Plan,
    namespace: dict[str, Any],
    *,
    compiler: Callable[..., Any] = compile,
    precision: int = _options.DEFAULT_PRECISION,
    progress: Callable[[SweepProgress], None] | None = None,
) -> ParCompareResult:
    """Run a sweep of a prepared statement and build its result.

    joblib's configuration is only changed inside context managers; no worker pool is left
    running that was not running before, and every cluster started here is stopped.
    """
    from . import _backends, _pools

    with _pools.restoring_pool_state(), _backends.opened(_backends.make_runners(plan)) as runners:
        return _run(prepared, plan, namespace, runners, compiler, precision, progress)


def plan_points(plan: Plan, runners: Sequence[Runner]) -> tuple[list[Point], dict[Point, int]]:
    """The points to measure and their worker counts.

    With one local backend: each n_jobs value on it. With several backends or a cluster: one
    serial n_jobs=1 baseline (the same sequential code whatever the backend), then each
    backend's parallel values, and each cluster's sizes.
    """
    from ._backends import SERIAL

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


def _run(prepared, plan, namespace, runners, compiler, precision, progress) -> ParCompareResult:
    from ._backends import SERIAL, SerialRunner
    from ._observe import Observer
    from .environment import collect
    from .insight import compare_results, thread_warnings, what_ran, with_threads

    by_name: dict[str, Runner] = {r.name: r for r in runners}
    if plan.shared_baseline:
        by_name[SERIAL] = SerialRunner()
    points, workers = plan_points(plan, runners)
    interval = _memory_interval(plan.memory, max(workers.values()))
    keep_values = plan.check if plan.check is not None else prepared.returns_value
    inner_threads = plan.inner_threads
    if inner_threads == "auto":
        from .environment import usable_cores

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
    with Observer(workers, interval) as observer:
        guard = _memory_guard(observer, plan.max_memory)
        data = sweep(
            plan,
            timer,
            points=points,
            workers_of=workers.__getitem__,
            cold_start=lambda point: by_name[point.backend].prepare(point.n_jobs),
            progress=progress,
            observer=observer,
            skip=guard,
            after_value=lambda point, count: threads.__setitem__(
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
    warnings, no_effect = what_ran(
        configs,
        preset=preset_n_jobs(prepared, namespace),
        setup_n_jobs_keywords=prepared.setup_n_jobs_keywords,
        nested_n_jobs=prepared.nested_n_jobs,
    )
    warnings += thread_warnings(
        configs, inner_threads=inner_threads, nested_n_jobs=prepared.nested_n_jobs
    )
    warnings += _backend_notes(configs, runners)
    results_equal = None
    if keep_values:
        base = configs[data.baseline_index]
        baseline = Point(base.backend, base.n_jobs)
        results_equal, differing = compare_results(timer.first_values, baseline)
        if differing:
            names = {Point(c.backend, c.n_jobs): c.name for c in configs}
            values = ", ".join(names.get(p, f"n_jobs={p.n_jobs}") for p in differing)
            warnings.append(
                f"the statement returned a different result at {values} than at "
                f"{base.name}. Usually something random is not seeded (set "
                "random_state=0), so results change from run to run; otherwise the parallel "
                "code does not compute the same thing."
            )
    return build_result(
        prepared.statement,
        configs,
        data.baseline_index,
        setup=prepared.setup,
        n_jobs_keywords=prepared.n_jobs_keywords,
        interleaved=data.interleaved,
        interrupted=data.interrupted_at is not None,
        notes=[*data.notes, *warnings],
        no_effect=no_effect,
        results_equal=results_equal,
        kernel_memory=observer.kernel_baseline,
        inner_threads=inner_threads,
        environment=collect(),
        precision=precision,
        clusters=[dict(r.info) for r in runners if r.is_cluster and r.info],
    )


def _backend_notes(configs: Sequence[ConfigTiming], runners: Sequence[Runner]) -> list[str]:
    """What the backends themselves did: the multiprocessing backend's pool per call, and what
    the cluster runners noticed (sizes left out, tasks cancelled)."""
    from .result import format_time

    notes = []
    for c in configs:
        if c.backend == "multiprocessing" and c.workers > 1 and c.timings:
            notes.append(
                "the multiprocessing backend starts a new pool of worker processes on every "
                f"call, so at {c.name} the warm calls ({format_time(c.median)}) pay that "
                f"start-up as well, not only the first call ({format_time(c.first_call)})."
            )
    for runner in runners:
        notes.extend(runner.notes)
    return notes


def _memory_guard(observer: Any, max_memory: tuple[str, float]):
    """``skip(point, workers)`` for the sweep: a sentence when a point's estimated peak
    memory exceeds the limit; None when memory is not sampled (nothing to estimate from)."""
    if observer.tree is None:
        return None
    from ._memory import available_memory, format_bytes

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

    def guard(point: Point, workers: int) -> str | None:
        estimate = observer.estimate_peak(workers)
        if estimate is None or estimate[0] <= limit:
            return None
        return (
            f"{point_name(point.backend, point.n_jobs, workers)} was skipped: its peak memory "
            "is estimated at "
            f"{format_bytes(estimate[0])} ({estimate[1]}), above the --max-memory limit of "
            f"{format_bytes(limit)} ({where})."
        )

    return guard


def _memory_interval(choice: bool | None, max_workers: int) -> float | None:
    """Sampling interval, or None for no sampling: when not asked for (``--memory``), memory is
    sampled only where that costs under 5 % of the machine."""
    if choice is False:
        return None
    from ._memory import MAX_INTERVAL, ProcessTree, sampling_interval
    from .environment import usable_cores

    tree = ProcessTree()
    processes = 1 + len(tree.children())
    per_process = tree.sample_cost() / processes
    interval = sampling_interval(per_process * (1 + max_workers), usable_cores())
    if interval is None and choice:
        return MAX_INTERVAL
    return interval


def preset_n_jobs(prepared: PreparedStatement, namespace: dict[str, Any]) -> dict[str, object]:
    """Objects the statement uses whose n_jobs was already set (directly or, for
    scikit-learn meta-estimators, on an inner estimator): ``{name: n_jobs}``."""
    import inspect

    found: dict[str, object] = {}
    for name in prepared.names():
        obj = namespace.get(name)
        if (
            obj is None
            or inspect.ismodule(obj)
            or inspect.isclass(obj)
            or (callable(obj) and (inspect.isfunction(obj) or inspect.isbuiltin(obj)))
        ):
            continue
        value = getattr(obj, "n_jobs", None)
        if value is None and hasattr(obj, "get_params"):
            try:
                params = obj.get_params(deep=True)
            except Exception:  # not a scikit-learn estimator after all
                params = {}
            value = next(
                (v for k, v in params.items() if k.endswith("n_jobs") and v is not None), None
            )
        if value is not None and not isinstance(value, bool) and isinstance(value, int):
            found[name] = value
    return found


def build_result(
    statement: str,
    configs: Sequence[ConfigTiming],
    baseline_index: int,
    *,
    setup: str = "pass",
    n_jobs_keywords: int = 0,
    interleaved: bool = False,
    interrupted: bool = False,
    notes: Sequence[str] = (),
    no_effect: str = "",
    results_equal: bool | None = None,
    kernel_memory: float = float("nan"),
    inner_threads: int | None = None,
    environment: dict[str, Any] | None = None,
    precision: int = _options.DEFAULT_PRECISION,
    clusters: Sequence[dict[str, Any]] = (),
) -> ParCompareResult:
    """Compute speedups and warnings for measured configs and wrap them in a result."""
    if environment is None:
        from .environment import usable_cores

        environment = {"cores": {"usable": usable_cores()}}
    filled = with_speedups(configs, baseline_index)
    warnings = list(notes) + stability_warnings(filled)
    if environment["cores"]["usable"] == 1:
        warnings.append(
            "this process may use only one CPU core, so no n_jobs value can run in parallel."
        )
    return ParCompareResult(
        statement=statement,
        setup=setup,
        configs=filled,
        baseline_n_jobs=filled[baseline_index].n_jobs,
        baseline_backend=filled[baseline_index].backend,
        clusters=[dict(c) for c in clusters],
        n_jobs_keywords_rewritten=n_jobs_keywords,
        interleaved=interleaved,
        interrupted=interrupted,
        no_effect=no_effect,
        results_equal=results_equal,
        kernel_memory=kernel_memory,
        inner_threads=inner_threads,
        environment=environment,
        warnings=warnings,
        precision=precision,
    )


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
    timeout: float | None = None,
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
        Loops per timed run; 0 chooses as ``%timeit`` does (a run lasts at least 0.2 s).
    repeat : int, optional
        Timed runs per value. Default: as many rounds as needed for the speedup's 95 %
        interval to be within 5 % of it, from 3 to 5.
    namespace : dict, optional
        Globals the statement runs in; default: the caller's globals. Names the statement
        assigns do not leak into it.
    quiet : bool, default False
        If False, print the table, the summary sentence and any warnings.
    precision : int, default 3
        Significant digits of the times shown.
    memory : bool, optional
        Sample the memory of the kernel and its workers during the timed runs (Σ PSS on
        Linux). Default: when sampling costs under 5 % of the machine.
    max_memory : str or float, default "80%"
        Skip an n_jobs value whose estimated peak memory exceeds this: a share of the memory
        the kernel and its workers can use (``"80%"``), or a size (``"4G"``, bytes as a number).
    check : bool, optional
        Compare each value's result with the baseline's. Default: when the statement ends
        with an expression.
    inner_threads : int or "auto", optional
        BLAS/OpenMP threads for every worker (joblib's ``inner_max_num_threads``) and for the
        kernel (threadpoolctl), restored afterwards; ``"auto"`` is usable cores divided by the
        most workers asked. Default: joblib's own choice.
    backend : str or sequence of str, optional
        joblib backends to compare, e.g. ``"loky,threading"`` or ``["loky", "dask"]``:
        loky, threading, multiprocessing, dask, ipyparallel. n_jobs=1 then runs once, as the
        serial baseline of every backend. Default: joblib's active backend.
    cluster : "local", optional
        For dask or ipyparallel: start a cluster on 127.0.0.1, scale it to each n_jobs value
        (the number of cluster workers), and stop it afterwards.
    scheduler : str, optional
        Address of a running dask scheduler (``"tcp://host:8786"``), measured at its size.
    profile, cluster_id : str, optional
        A running ipyparallel cluster (``ipcluster start --profile NAME --cluster-id ID``);
        each n_jobs value up to its engine count is measured through a view of that many
        engines.
    timeout : float, optional
        Deadline in seconds of each call on a cluster. Default: 10 times the serial call,
        at least 60 s.

    Returns
    -------
    ParCompareResult

    Raises
    ------
    ValueError
        For a bad option, naming the bad value (before anything runs).
    SyntaxError
        If ``stmt`` or ``setup`` does not compile (before anything runs).

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
        n_jobs,
        number,
        repeat,
        memory=memory,
        max_memory=max_memory,
        check=check,
        inner_threads=inner_threads,
        backend=backend,
        cluster=cluster,
        scheduler=scheduler,
        profile=profile,
        cluster_id=cluster_id,
        timeout=timeout,
    )
    digits = _options.parse_count("precision (-p)", precision, minimum=1)
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    prepared = prepare(stmt, setup)
    result = run(prepared, plan, namespace, precision=digits)
    if not quiet:
        print(result.report())
    return result
