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
from .result import (
    ConfigTiming,
    ParCompareResult,
    bootstrap_ratio_ci,
    median,
    stability_warnings,
    with_speedups,
)

__all__ = [
    "Plan",
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
    """Something that runs ``number`` loops of the statement at ``n_jobs`` and returns the
    total seconds. The real one is :class:`StatementTimer`; tests pass synthetic ones."""

    def __call__(self, n_jobs: int, number: int) -> float: ...


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

    Each call runs inside ``joblib.parallel_config(n_jobs=k)``, which reaches every joblib
    call whose n_jobs is unset, and uses a copy of the statement whose literal ``n_jobs=``
    keywords are set to ``k``. The garbage collector is off while timing, as in ``%timeit``.
    The namespace is used as globals; names the statement assigns stay local.
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
    ) -> None:
        self.prepared = prepared
        self.inner_threads = inner_threads
        self.namespace = namespace
        self.clock = clock
        self.compiler = compiler
        self.keep_values = keep_values
        self.first_values: dict[int, Any] = {}
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

    def _config(self, n_jobs: int):
        """joblib's configuration for ``n_jobs`` and, with ``inner_threads``, the thread
        limits: ``inner_max_num_threads`` for loky's workers, threadpoolctl in the kernel."""
        from contextlib import ExitStack

        from joblib import parallel_config
        from joblib.parallel import get_active_backend

        stack = ExitStack()
        if self.inner_threads is None:
            stack.enter_context(parallel_config(n_jobs=n_jobs))
            return stack
        from threadpoolctl import threadpool_limits

        if type(get_active_backend()[0]).__name__ == "LokyBackend":
            stack.enter_context(
                parallel_config(
                    backend="loky", n_jobs=n_jobs, inner_max_num_threads=self.inner_threads
                )
            )
        else:
            stack.enter_context(parallel_config(n_jobs=n_jobs))
        stack.enter_context(threadpool_limits(limits=self.inner_threads))
        return stack

    def thread_report(self, n_jobs: int, workers: int) -> dict[str, list]:
        """BLAS/OpenMP pools (api, threads) in the kernel and, through a tiny task on the same
        configuration, in a worker; run outside the timed region, on the warm pool."""
        from joblib import Parallel, delayed

        with self._config(n_jobs):
            report = {"kernel": _thread_pools(), "worker": []}
            if workers > 1:
                report["worker"] = Parallel()(delayed(_thread_pools)() for _ in range(1))[0]
        return report

    def __call__(self, n_jobs: int, number: int) -> float:
        inner = self._function(n_jobs)
        with self._config(n_jobs):
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                seconds, value = inner(itertools.repeat(None, number), self.clock)
            finally:
                if gc_was_enabled:
                    gc.enable()
        if self.keep_values and n_jobs not in self.first_values:
            self.first_values[n_jobs] = value
        return seconds


def _thread_pools() -> list[tuple[str, int]]:
    """(internal API, threads) of each BLAS/OpenMP pool loaded in this process."""
    from threadpoolctl import threadpool_info

    return [(pool["internal_api"], int(pool["num_threads"])) for pool in threadpool_info()]


# -- the plan --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Validated options of a sweep. ``repeat=None`` means: as many rounds as needed."""

    n_jobs: tuple[int, ...]
    number: int = 0
    repeat: int | None = None
    memory: bool | None = None  # None: sample when it is cheap
    max_memory: tuple[str, float] = _options.parse_max_memory(_options.DEFAULT_MAX_MEMORY)
    check: bool | None = None  # None: compare results when the statement returns a value
    inner_threads: int | str | None = None  # threads per worker and kernel; "auto"; None

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
    ) -> Plan:
        """Validate user options; raises ValueError naming the bad value."""
        values = default_n_jobs() if n_jobs is None else _options.parse_n_jobs(n_jobs)
        loops = _options.parse_count("number (-n)", number, minimum=0)
        runs = None if repeat is None else _options.parse_count("repeat (-r)", repeat, minimum=1)
        limit = _options.parse_max_memory(max_memory)
        threads = None if inner_threads is None else _options.parse_inner_threads(inner_threads)
        return cls(values, loops, runs, memory, limit, check, threads)


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
    n_jobs: int
    workers: int
    first_call: float = float("nan")
    warmup: list[float] | None = None
    settled: bool = True
    loops: int = 0
    runs: list[float] | None = None
    paired: list[float] | None = None

    def timing(self) -> ConfigTiming:
        return ConfigTiming(
            n_jobs=self.n_jobs,
            workers=self.workers,
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
        self.n_jobs = 0
        self.phase = ""

    def report(self, completed: tuple[ConfigTiming, ...] = ()) -> None:
        if self.progress is not None:
            self.total = max(self.total, self.done)
            self.progress(
                SweepProgress(
                    self.n_jobs,
                    self.phase,
                    self.done,
                    self.total,
                    self.clock() - self.start,
                    completed,
                )
            )

    def at(self, n_jobs: int, phase: str) -> None:
        self.n_jobs, self.phase = n_jobs, phase
        self.report()

    def __call__(self, n_jobs: int, number: int) -> float:
        seconds = self.timer(n_jobs, number)
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


def _warm_up(timer: Timer, n_jobs: int, first: float, minimum: int) -> tuple[list[float], bool]:
    calls: list[float] = []
    previous = first
    while len(calls) < MAX_WARMUP_CALLS:
        current = timer(n_jobs, 1)
        calls.append(current)
        improving = current < (1.0 - WARM_TOLERANCE) * previous
        previous = current
        if len(calls) >= minimum and not improving:
            return calls, True
    return calls, False


def _calibrate(timer: Timer, n_jobs: int, last_single_call: float, number: int) -> int:
    """Loops per run: as given, or as %timeit chooses (first power of ten lasting 0.2 s)."""
    if number:
        return number
    if last_single_call >= MIN_RUN_SECONDS:
        return 1
    for exponent in range(1, 10):
        loops = 10**exponent
        if timer(n_jobs, loops) >= MIN_RUN_SECONDS:
            return loops
    return loops


def sweep(
    plan: Plan,
    timer: Timer,
    *,
    workers_of: Callable[[int], int] = effective_workers,
    cold_start: Callable[[], None] = lambda: None,
    progress: Callable[[SweepProgress], None] | None = None,
    observer: Any = None,
    skip: Callable[[int, int], str | None] | None = None,
    after_value: Callable[[int, int], None] | None = None,
) -> SweepData:
    """Measure the statement at every n_jobs value of ``plan``.

    Parameters
    ----------
    plan : Plan
        The n_jobs values, loops and repeats.
    timer : Timer
        Runs loops of the statement at an n_jobs value and returns the seconds taken.
    workers_of : callable
        Effective worker count of an n_jobs value.
    cold_start : callable
        Called before the first call of every value that uses workers; the real one shuts
        the reusable pool down.
    progress : callable, optional
        Called with a :class:`SweepProgress` when a phase starts and after every call.
    observer : optional
        Told ``before(n_jobs)`` and ``after(n_jobs, seconds, loops)`` each timed run (not
        the first call or warm-up), to find out what really ran; ``first_call(n_jobs)`` is
        a context manager around each first call (memory only).
    skip : callable, optional
        Asked ``skip(n_jobs, workers)`` before each value but the baseline; a returned
        sentence skips the value and becomes a note (the memory guard).
    after_value : callable, optional
        Called ``after_value(n_jobs, workers)`` once a value's timed runs are done, while its
        pool is still warm (the thread report).

    Exceptions from the statement propagate with the n_jobs value named in a note.
    ``KeyboardInterrupt`` stops the sweep; what was measured so far is returned.
    """
    states = [_ValueState(k, workers_of(k)) for k in plan.n_jobs]
    baseline_index = min(range(len(states)), key=lambda i: (states[i].workers, i))
    base = states[baseline_index]
    interleave = base.workers == 1 and len(states) > 1
    order = [baseline_index] + [i for i in range(len(states)) if i != baseline_index]
    ordered = [states[i] for i in order]
    timer = counter = _CountingTimer(timer, _estimated_calls(plan, ordered, interleave), progress)
    notes: list[str] = []
    interrupted_at: int | None = None
    current = base

    def timed_run(state: _ValueState) -> float:
        if observer is not None:
            observer.before(state.n_jobs)
        seconds = timer(state.n_jobs, state.loops)
        if observer is not None:
            observer.after(state.n_jobs, seconds, state.loops)
        return seconds

    try:
        for index in order:
            current = state = states[index]
            reason = skip(state.n_jobs, state.workers) if skip and index != baseline_index else None
            if reason:
                notes.append(reason)
                continue
            state.runs, state.paired = [], []
            counter.at(state.n_jobs, "first call")
            if state.workers > 1:
                cold_start()
            with observer.first_call(state.n_jobs) if observer is not None else nullcontext():
                state.first_call = timer(state.n_jobs, 1)
            if state.workers > 1:
                counter.at(state.n_jobs, "warm-up")
            # A serial call needs no workers: its first call is its warm-up.
            state.warmup, state.settled = (
                _warm_up(timer, state.n_jobs, state.first_call, minimum=MIN_WARMUP_CALLS)
                if state.workers > 1
                else ([], True)
            )
            last = state.warmup[-1] if state.warmup else state.first_call
            state.loops = _calibrate(timer, state.n_jobs, last, plan.number)
            counter.at(state.n_jobs, "timed runs")
            if index == baseline_index:
                if not interleave:  # otherwise its runs are paired with each value's runs
                    for _ in range(plan.repeat or _options.DEFAULT_REPEAT):
                        base.runs.append(timed_run(base))
                if after_value is not None:
                    after_value(base.n_jobs, base.workers)
                continue
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
                after_value(state.n_jobs, state.workers)
            counter.report(tuple(s.timing() for s in ordered if s.runs))
    except KeyboardInterrupt:
        interrupted_at = current.n_jobs
        notes.append(_interrupt_note(current, plan))
    except Exception as exc:
        death = _worker_death(exc)
        if death is None:
            _add_note(
                exc, f"(raised while %parcompare ran the statement at n_jobs={current.n_jobs})"
            )
            raise
        interrupted_at = current.n_jobs
        notes.append(f"at n_jobs={current.n_jobs} {death} The values measured before are kept.")
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
        f"interrupted while measuring n_jobs={state.n_jobs} ({runs}); the table shows what "
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
    running that was not running before.
    """
    from . import _pools
    from ._observe import Observer
    from .environment import collect
    from .insight import compare_results, thread_warnings, what_ran, with_threads

    workers = {k: effective_workers(k) for k in plan.n_jobs}
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
    )
    threads: dict[int, dict[str, list]] = {}
    with _pools.restoring_pool_state(), Observer(workers, interval) as observer:
        guard = _memory_guard(observer, plan.max_memory)
        data = sweep(
            plan,
            timer,
            workers_of=workers.__getitem__,
            cold_start=_pools.shutdown_pool,
            progress=progress,
            observer=observer,
            skip=guard,
            after_value=lambda n_jobs, count: threads.__setitem__(
                n_jobs, timer.thread_report(n_jobs, count)
            ),
        )
    if not data.configs:
        raise KeyboardInterrupt("%parcompare was interrupted before anything was measured")
    configs = [
        with_threads(observer.fields(c), threads.get(c.n_jobs), prepared.nested_n_jobs)
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
    results_equal = None
    if keep_values:
        baseline = configs[data.baseline_index].n_jobs
        results_equal, differing = compare_results(timer.first_values, baseline)
        if differing:
            values = ", ".join(f"n_jobs={k}" for k in differing)
            warnings.append(
                f"the statement returned a different result at {values} than at "
                f"n_jobs={baseline}. Usually something random is not seeded (set "
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
    )


def _memory_guard(observer: Any, max_memory: tuple[str, float]):
    """``skip(n_jobs, workers)`` for the sweep: a sentence when a value's estimated peak
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

    def guard(n_jobs: int, workers: int) -> str | None:
        estimate = observer.estimate_peak(workers)
        if estimate is None or estimate[0] <= limit:
            return None
        return (
            f"n_jobs={n_jobs} was skipped: its peak memory is estimated at "
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
    )
    digits = _options.parse_count("precision (-p)", precision, minimum=1)
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    prepared = prepare(stmt, setup)
    result = run(prepared, plan, namespace, precision=digits)
    if not quiet:
        print(result.report())
    return result
