"""Behaviour through a real IPython shell and through the Python API (both entry points)."""

from __future__ import annotations

import _thread
import math
import os
import threading
import time
from collections import Counter

import joblib
import pytest
from IPython.core.error import UsageError
from threadpoolctl import threadpool_info

from ipyparallel_ds import ConfigTiming, ParCompareResult, _pools


def joblib_config():
    """The effective parallel_config (joblib stores its default dict once a context exits)."""
    config = getattr(joblib.parallel._backend, "config", joblib.parallel.default_parallel_config)
    return {key: repr(value) for key, value in config.items()}


def threadpools():
    return [(p["internal_api"], p["prefix"], p["num_threads"]) for p in threadpool_info()]


def user_names(ip):
    """The user namespace apart from output history and IPython's own underscore names."""
    hidden = set(ip.user_ns_hidden)
    return {
        name: id(value)
        for name, value in ip.user_ns.items()
        if not name.startswith("_") and name not in hidden and name not in ("In", "Out")
    }


def threads():
    """Names of the threads alive in this process (the memory sampler is 'parcompare-memory')."""
    # distributed keeps one offload thread per process from its first use on, by design.
    return [t.name for t in threading.enumerate() if not t.name.startswith("Dask-Offload")]


def processes():
    """Child processes other than joblib's reusable pool's workers and the resource trackers
    that joblib and multiprocessing start once per process and keep on purpose."""
    import psutil
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    pool = set(getattr(executor, "_processes", None) or ()) if _pools.pool_is_alive() else set()
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if child.pid not in pool and "resource_tracker" not in command:
            found.add(child.pid)
    return found


class StateCheck:
    """The state %parcompare must leave as it found it: joblib's configuration, thread-pool
    limits, the user namespace, whether a worker pool runs, the kernel's environment
    variables, and no thread or process that the tool started still alive."""

    def __init__(self, ip):
        self.ip = ip
        self.mark()

    def snapshot(self):
        return (joblib_config(), threadpools(), user_names(self.ip), _pools.pool_is_alive())

    def mark(self):
        """Take the reference snapshot (call after the test's own set-up cells)."""
        self.before = self.snapshot()
        self.threads, self.processes = threads(), processes()
        self.environ = dict(os.environ)

    # Thread names a test expects a library to leave behind (set by that test, with why).
    allowed_threads: tuple[str, ...] = ()

    def started(self):
        """Threads and processes that were not there before (others may have ended meanwhile,
        e.g. IPython's history thread)."""
        new = Counter(threads()) - Counter(self.threads)
        for name in list(new):
            if self.allowed_threads and name.startswith(self.allowed_threads):
                del new[name]
        return new, processes() - self.processes

    def assert_restored(self, wait: float = 10.0):
        assert self.snapshot() == self.before
        now = dict(os.environ)
        names = {*now, *self.environ} - {"PYTEST_CURRENT_TEST"}  # pytest's own
        changed = {k: (self.environ.get(k), now.get(k)) for k in names}
        assert {k: v for k, v in changed.items() if v[0] != v[1]} == {}
        # A cluster's helper threads end shortly after it is closed: wait a little for them.
        deadline = time.monotonic() + wait
        while any(self.started()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.started() == (Counter(), set())


@pytest.fixture
def state(ip):
    check = StateCheck(ip)
    yield check
    check.assert_restored()


def test_result_has_every_field(run, tiny, state):
    r = run("cross_val_score(SVC(), X, y, cv=5)", n_jobs="1,2", repeat=3)
    assert isinstance(r, ParCompareResult)
    assert r.statement == "cross_val_score(SVC(), X, y, cv=5)"
    assert [c.n_jobs for c in r.configs] == [1, 2]
    assert [c.workers for c in r.configs] == [1, 2]
    for c in r.configs:
        assert isinstance(c, ConfigTiming)
        assert c.first_call > 0 and c.loops == 1 and len(c.timings) == len(c.all_runs)
        assert c.best <= c.median <= c.worst
        for name in ("average", "stdev", "iqr", "speedup", "efficiency"):
            assert not math.isnan(getattr(c, name))
        low, high = c.speedup_ci
        assert low <= c.speedup <= high
    # each run at n_jobs=2, warm-up runs included, is paired with a serial baseline run
    assert r.configs[1].repeat == 3
    assert r.configs[0].repeat == 3 + len(r.configs[1].warmup_calls)
    assert r.configs[1].paired_baseline == r.configs[0].timings
    assert r.configs[0].speedup == 1.0
    assert r.baseline_n_jobs == 1 and r.interleaved
    env = r.environment
    assert set(env["versions"]) >= {"ipython", "scikit-learn", "joblib", "numpy"}
    assert env["cores"]["usable"] >= 1 and env["cores"]["logical"] >= 1
    assert isinstance(env["threadpools"], list)
    assert isinstance(r.warnings, list)
    assert r.verdict in r.report()


def test_n_jobs_reaches_unset_and_literal_calls(run, ip, state):
    ip.run_cell("from joblib import Parallel; unset, literal = [], []").raise_error()
    state.mark()
    r = run("unset.append(Parallel().n_jobs); literal.append(Parallel(n_jobs=7).n_jobs)")
    assert set(ip.user_ns["unset"]) == {1, 2}
    assert set(ip.user_ns["literal"]) == {1, 2}
    assert r.n_jobs_keywords_rewritten == 1
    assert "rewritten" in r.mechanism


def test_workers_really_run_the_tasks(run, ip, state):
    ip.run_cell(
        "import os, time\nfrom joblib import Parallel, delayed\npids = []\n"
        "def pid():\n    time.sleep(0.05)\n    return os.getpid()\n"
    ).raise_error()
    state.mark()
    run("pids.append(len(set(Parallel()(delayed(pid)() for _ in range(6)))))")
    assert max(ip.user_ns["pids"]) == 2 and min(ip.user_ns["pids"]) == 1


def test_minus_one_is_labelled_with_its_worker_count(run, ip, state):
    from joblib import effective_n_jobs

    r = run("pass", n_jobs="1,-1")
    assert r.configs[1].workers == effective_n_jobs(-1)


def test_assignments_do_not_leak(run, ip, state):
    run("leaked = 1", n_jobs="1")
    assert "leaked" not in ip.user_ns


def test_namespace_without_builtins_is_left_without_them():
    from ipyparallel_ds import parcompare

    namespace = {"x": 2}
    parcompare("x * 2", n_jobs=1, number=1, repeat=1, namespace=namespace, quiet=True)
    assert namespace == {"x": 2}


def test_api_defaults_to_the_callers_globals():
    from ipyparallel_ds import parcompare

    r = parcompare("_helper_for_api_test()", n_jobs=1, number=1, repeat=1, quiet=True)
    assert r.configs[0].repeat == 1


def _helper_for_api_test():
    return 1


def test_cell_mode_runs_setup_untimed_and_times_the_body(ip, state):
    ip.run_cell("calls = []").raise_error()
    state.mark()
    r = ip.run_cell_magic(
        "parcompare", "-o -q -j 1 -n 2 -r 2 calls.append('setup')", "calls.append('body')\n"
    )
    calls = ip.user_ns["calls"]
    # one setup per call: first call + 2 timed runs; the body runs once per loop
    assert calls.count("setup") == 3 and calls.count("body") == 1 + 2 * 2
    assert r.configs[0].loops == 2


def test_statement_is_kept_verbatim(ip, state):
    ip.run_cell("seen = []; x = 'expanded'").raise_error()
    state.mark()
    ip.run_line_magic("parcompare", '-q -j 1 -n1 -r1 seen.append("a    b {x} $x")')
    assert set(ip.user_ns["seen"]) == {"a    b {x} $x"}


def test_ipython_syntax_is_transformed(ip, state):
    ip.run_cell("here = []").raise_error()
    state.mark()
    ip.run_cell_magic("parcompare", "-q -j 1 -n1 -r1", "cwd = %pwd\nhere.append(cwd)\n")
    assert ip.user_ns["here"] and "cwd" not in ip.user_ns


def test_output_is_silenced_by_semicolon(ip, capsys):
    outcome = ip.run_cell("%parcompare -o -j 1 -n1 -r1 pass;", store_history=True)
    assert outcome.error_in_exec is None
    assert outcome.result is None
    assert "n_jobs" in capsys.readouterr().out  # the report itself is still printed


def test_report_is_printed_unless_quiet(ip, capsys):
    assert ip.run_line_magic("parcompare", "-j 1 -n1 -r1 pass") is None
    out = capsys.readouterr().out
    assert "first call" in out and "nothing to compare" in out
    ip.run_line_magic("parcompare", "-q -j 1 -n1 -r1 pass")
    assert capsys.readouterr().out == ""


def test_budget_from_the_magic_and_the_api(ip, tiny, state):
    from ipyparallel_ds import parcompare

    line = "-o -q --budget 30 -j 1,2 -n1 cross_val_score(SVC(), X, y, cv=4)"
    r = ip.run_line_magic("parcompare", line)
    assert r.budget == 30.0 and r.sweep_seconds > 0
    assert r.budget_advice is not None and r.budget_advice.used == r.sweep_seconds
    assert "budget" in r.verdict
    assert r.configs[1].stopped_by in ("settled", "budget", "max rounds")
    with pytest.raises(ValueError, match="--budget must be a positive number of seconds, got 0"):
        parcompare("pass", n_jobs=1, budget=0, namespace={}, quiet=True)
    loaded = type(r).from_json(r.to_json())
    assert loaded.budget == 30.0 and loaded.budget_advice.stopped == r.budget_advice.stopped


def test_precision_option(ip):
    r = ip.run_line_magic("parcompare", "-o -q -p 5 -j 1 -n1 -r1 pass")
    assert r.precision == 5


BAD_LINES = [
    ("-j 0 pass", "n_jobs=0"),
    ("-j abc pass", "'abc'"),
    ("-j '' pass", "''"),
    ("-j 1,,2 pass", "'1,,2'"),
    ("-j 1.5 pass", "'1.5'"),
    ("-r 0 pass", "at least 1, got 0"),
    ("-n -1 pass", "at least 0, got -1"),
    ("-p x pass", "'x'"),
    ("--budget -3 pass", "--budget must be a positive number of seconds, got '-3'"),
    ("--budget soon pass", "--budget needs a number of seconds, got 'soon'"),
    ("--budget inf pass", "'inf'"),
    ("-x pass", "-x"),
    ("--bins 3 pass", "--bins"),
    ("-j", "-j"),
    ("", "no statement"),
    ("-j 1,2", "no statement"),
    ("1 +", "syntax error in the statement"),
    ("x = = 1", "syntax error in the statement"),
    ("# only a comment", "'# only a comment' has no code to time"),
]


@pytest.mark.parametrize(("line", "names"), BAD_LINES)
def test_bad_input_is_exactly_a_usage_error_before_anything_runs(ip, line, names, state):
    ip.run_cell("ran = []").raise_error()
    state.mark()
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("parcompare", line.replace("pass", "ran.append(1)"))
    assert type(info.value) is UsageError
    assert names in str(info.value)
    assert "\n" not in str(info.value)
    assert ip.user_ns["ran"] == []


def test_syntax_error_in_setup_is_a_usage_error(ip, state):
    with pytest.raises(UsageError, match="syntax error in the setup") as info:
        ip.run_cell_magic("parcompare", "-j 1 x = (", "pass\n")
    assert type(info.value) is UsageError


def test_empty_cell_body_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="no statement"):
        ip.run_cell_magic("parcompare", "-j 1 x = 1", "   \n")


@pytest.mark.parametrize(
    ("stmt", "error"), [("1 +", SyntaxError), ("", ValueError), ("# only a comment", ValueError)]
)
def test_api_rejects_bad_code_before_running(stmt, error):
    from ipyparallel_ds import parcompare

    with pytest.raises(error):
        parcompare(stmt, n_jobs=1, namespace={}, quiet=True)


def test_statement_error_propagates_with_n_jobs_named(run, ip, state):
    ip.run_cell(
        "from joblib import Parallel\n"
        "def fails_in_parallel():\n"
        "    if Parallel().n_jobs == 2:\n"
        "        raise ZeroDivisionError('only at two jobs')\n"
    ).raise_error()
    state.mark()
    with pytest.raises(ZeroDivisionError, match="only at two jobs") as info:
        run("fails_in_parallel()")
    if hasattr(info.value, "add_note"):
        assert any("n_jobs=2" in note for note in info.value.__notes__)


def test_state_is_restored_inside_a_user_parallel_config(run, ip):
    with joblib.parallel_config(backend="threading", n_jobs=3):
        before = joblib_config()
        run("pass")
        assert joblib_config() == before


# A Ctrl-C, as the statement raises it when it runs at n_jobs=2.
STOP_AT_TWO = """\
from joblib import Parallel
def stop_at_two():
    if Parallel().n_jobs == 2:
        raise KeyboardInterrupt
"""


def test_interrupt_returns_what_was_measured(run, ip, state):
    ip.run_cell(STOP_AT_TWO).raise_error()
    state.mark()
    if run.kind == "magic":  # the cell stops, as after any Ctrl-C; the result is kept
        with pytest.raises(KeyboardInterrupt) as info:
            run("stop_at_two()", repeat=2)
        r = info.value.result
    else:
        r = run("stop_at_two()", repeat=2)
    assert r.interrupted
    assert [c.n_jobs for c in r.configs] == [1]
    assert any("interrupted while measuring n_jobs=2" in w for w in r.warnings)


FAILS_WHEN_TIMED = """\
calls = []
def fails_when_timed():
    calls.append(1)
    if len(calls) == 2:  # the first call passes; the first timed run raises
        raise {error}
"""


@pytest.mark.parametrize("error", ["ZeroDivisionError('in a timed run')", "KeyboardInterrupt"])
def test_no_sampler_thread_is_left_when_a_timed_run_raises(ip, state, error):
    ip.run_cell(FAILS_WHEN_TIMED.format(error=error)).raise_error()
    state.mark()
    line = "-o -q --memory -j 1 -n 1 -r 2 fails_when_timed()"
    if error == "KeyboardInterrupt":  # the sweep stops and keeps what it measured
        with pytest.raises(KeyboardInterrupt) as info:
            ip.run_line_magic("parcompare", line)
        assert info.value.result.interrupted
    else:
        with pytest.raises(ZeroDivisionError, match="in a timed run"):
            ip.run_line_magic("parcompare", line)


def test_real_ctrl_c_during_parallel_work_keeps_state(ip, state):
    ip.run_cell(
        "import time\nfrom joblib import Parallel, delayed\n"
        "def slow_in_parallel():\n"
        "    if Parallel().n_jobs == 2:\n"
        "        Parallel()(delayed(time.sleep)(0.5) for _ in range(40))\n"
    ).raise_error()
    state.mark()
    timer = threading.Timer(4.0, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            ip.run_line_magic("parcompare", "-o -q -j 1,2 -n1 -r2 slow_in_parallel()")
    finally:
        timer.cancel()
    r = info.value.result
    assert r.interrupted and r.configs[0].n_jobs == 1


def test_ctrl_c_shows_the_partial_table_then_stops_the_cell(ip, capsys):
    """IPython's rule: a magic must not swallow KeyboardInterrupt. The rest of the cell does
    not run, the partial table is printed, and the partial result is reachable."""
    ip.run_cell(STOP_AT_TWO).raise_error()
    outcome = ip.run_cell("%parcompare -j 1,2 -n1 -r1 stop_at_two()\nafter_the_magic = 1\n")
    assert isinstance(outcome.error_in_exec, KeyboardInterrupt)
    assert "after_the_magic" not in ip.user_ns
    assert outcome.error_in_exec.result.configs[0].n_jobs == 1
    assert "interrupted while measuring n_jobs=2" in capsys.readouterr().out


def test_statement_sees_the_callers_locals_and_leaves_none_behind(ip, state):
    """As %timeit (@needs_local_scope): inside a function the statement sees its locals."""
    ip.run_cell(
        "def uses_a_local():\n"
        "    forty_one = 41\n"
        "    result = %parcompare -o -q -j 1 -n 1 -r 1 forty_one + 1\n"
        "    return result\n"
    ).raise_error()
    state.mark()
    r = ip.user_ns["uses_a_local"]()
    assert r.configs[0].timings and "forty_one" not in ip.user_ns


def test_tab_completes_inside_the_statement_as_after_timeit(ip):
    from IPython.core.completer import provisionalcompleter

    ip.user_ns["xs"] = [1.5]
    jedi = ip.Completer.use_jedi
    ip.Completer.use_jedi = False  # IPython's own matchers read the code out of the magic
    try:
        for line in ("%timeit -n 2 -r 1 xs[0].as_int", "%parcompare -j 1,2 -n 2 -r 1 xs[0].as_int"):
            with provisionalcompleter():
                found = [c.text for c in ip.Completer.completions(line, len(line))]
            assert ".as_integer_ratio" in found, line
    finally:
        ip.Completer.use_jedi = jedi


def test_api_compiles_as_plain_python_does():
    """The statement does not inherit the package's own `from __future__ import annotations`:
    an annotation is evaluated, as it would be in a plain script."""
    from ipyparallel_ds import parcompare

    with pytest.raises(NameError, match="not_defined_anywhere"):
        parcompare("def f(x: not_defined_anywhere): pass", n_jobs=1, namespace={}, quiet=True)


def test_pool_left_running_only_if_it_was_running(ip):
    _pools.shutdown_pool()
    ip.run_line_magic("parcompare", "-q -j 1,2 -n1 -r1 pass")
    assert not _pools.pool_is_alive()
    ip.run_cell("from joblib import Parallel, delayed").raise_error()
    uses_pool = "Parallel()(delayed(abs)(i) for i in range(4))"
    ip.run_line_magic("parcompare", f"-q -j 1,2 -n1 -r1 {uses_pool}")
    assert not _pools.pool_is_alive()  # none before, so the measurement's pool is shut down
    joblib.Parallel(n_jobs=2)(joblib.delayed(abs)(i) for i in range(2))
    assert _pools.pool_is_alive()
    ip.run_line_magic("parcompare", f"-q -j 1,2 -n1 -r1 {uses_pool}")
    assert _pools.pool_is_alive()  # one before: the measurement's warm pool replaces it
    # %unload_ext shuts down the pool the measurement left running
    ip.run_line_magic("unload_ext", "ipyparallel_ds")
    try:
        assert not _pools.pool_is_alive()
        assert "parcompare" not in ip.magics_manager.magics["line"]
        assert "parcompare" not in ip.magics_manager.magics["cell"]
    finally:
        ip.run_line_magic("load_ext", "ipyparallel_ds")
    assert "parcompare" in ip.magics_manager.magics["line"]
