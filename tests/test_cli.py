"""The ``parcompare`` command, run as a subprocess, and the ``__main__`` guard it teaches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import TINY_SETUP

from ipyparallel_ds import ParCompareResult, check_script
from ipyparallel_ds.result import ConfigTiming

PARCOMPARE = str(Path(sys.executable).with_name("parcompare"))
TINY_STMT = "cross_val_score(SVC(), X, y, cv=4)"
FAST = ["-j", "1,2", "-n", "1", "-r", "1"]
BOOTSTRAP_ERROR = "finished its bootstrapping phase"


def parcompare(*args: str, cwd: Path | None = None, env: dict | None = None, timeout=300):
    return subprocess.run(
        [PARCOMPARE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def test_statement_with_setup_prints_the_same_table_as_the_magic():
    out = parcompare(TINY_STMT, "--setup", TINY_SETUP, *FAST)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["n_jobs", "workers", "ran", "on"]
    assert lines[1].split()[0] == "1" and lines[2].split()[0] == "2"
    assert "speedup once warm" in out.stdout
    assert "Recommended:" in out.stdout or "not measurably faster" in out.stdout
    assert out.stderr == ""  # no progress line when stderr is not a terminal


def test_python_dash_m_with_json_loads_back_into_a_result(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ipyparallel_ds", TINY_STMT, "--setup", TINY_SETUP, *FAST,
         "--budget", "60", "--json", "--save", str(tmp_path / "chart.png")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    fields = ParCompareResult.__dataclass_fields__
    assert {"statement", "configs", "verdict", "warnings", "environment"} <= set(data)
    assert data["statement"] == TINY_STMT and data["setup"] == TINY_SETUP
    assert [c["n_jobs"] for c in data["configs"]] == [1, 2]
    assert data["budget"] == 60.0 and data["budget_advice"]["used"] == data["sweep_seconds"]
    config_fields = set(ConfigTiming.__dataclass_fields__)
    assert config_fields <= set(data["configs"][0])
    assert set(fields) <= set(data)
    # Parsed back into a result, which derives the same summary, verdict and statistics.
    result = ParCompareResult.from_json(out.stdout)
    assert json.loads(result.to_json()) == data
    assert result.configs[1].speedup == data["configs"][1]["speedup"]
    assert (tmp_path / "chart.png").read_bytes().startswith(b"\x89PNG")


def test_script_top_level_is_the_setup_and_its_main_block_does_not_run(tmp_path):
    script = tmp_path / "train.py"
    marker = tmp_path / "main-ran"
    script.write_text(
        textwrap.dedent(
            f"""\
            from sklearn.datasets import make_classification
            from sklearn.model_selection import GridSearchCV
            from sklearn.svm import SVC

            X, y = make_classification(n_samples=200, random_state=0)
            search = GridSearchCV(SVC(), {{"C": [0.1, 1.0]}}, cv=3)

            if __name__ == "__main__":
                open({str(marker)!r}, "w").close()
                search.fit(X, y)
            """
        )
    )
    out = parcompare("--script", str(script), "--stmt", "search.fit(X, y)", *FAST)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("n_jobs")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-j", "0", "x"], "n_jobs=0 is not valid"),
        (["-j", "1,abc", "x"], "'abc'"),
        (["--bogus", "x"], "unrecognized arguments: --bogus"),
        (["-b", "spark", "x"], "unknown backend 'spark'"),
        (["-r", "0", "x"], "repeat (-r) must be at least 1, got 0"),
        (["--budget", "soon", "x"], "--budget needs a number of seconds, got 'soon'"),
        (["--budget=-3", "x"], "--budget must be a positive number of seconds, got '-3'"),
        (["--save", "chart.gif", "x"], "'chart.gif'"),
        (["x = ("], "syntax error"),
        ([], "there is no statement"),
        (["--script", "missing.py", "--stmt", "x"], "'missing.py' is not a file"),
        (["a", "--stmt", "b"], "give the statement once"),
        (["demo", "--fast"], "parcompare demo takes only --front-page ROOT, got ['--fast']"),
    ],
)
def test_usage_errors_exit_2_naming_the_bad_value(args, message):
    out = parcompare(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stdout == ""


def test_a_statement_that_raises_exits_1_with_its_traceback():
    out = parcompare("1 / 0", *FAST)
    assert out.returncode == 1
    assert "ZeroDivisionError" in out.stderr and "Traceback" in out.stderr
    assert "n_jobs=1" in out.stderr


def test_a_script_that_raises_exits_1(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import nonexistent_module_for_parcompare\n")
    out = parcompare("--script", str(script), "--stmt", "x", *FAST)
    assert out.returncode == 1
    assert "ModuleNotFoundError" in out.stderr


def test_help_lists_the_magics_options():
    out = parcompare("--help")
    assert out.returncode == 0
    for flag in (
        "--n-jobs",
        "--backend",
        "--max-memory",
        "--inner-threads",
        "--timeout",
        "--budget",
    ):
        assert flag in out.stdout
    assert "80%" in out.stdout


def test_demo_runs_the_seed_experiment(tmp_path):
    out = parcompare("demo", cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "cross_val_score(SVC(), X, y, cv=20)" in out.stdout
    assert "warm (median ± IQR)" in out.stdout
    assert (tmp_path / "parcompare-demo.png").read_bytes().startswith(b"\x89PNG")


# -- the __main__ guard ----------------------------------------------------------------------
UNGUARDED = """\
from math import sqrt

from joblib import Parallel, delayed

results = Parallel(n_jobs=2, backend="multiprocessing")(delayed(sqrt)(i) for i in range(8))
print("results", results)
"""

GUARDED = """\
from math import sqrt

from joblib import Parallel, delayed

if __name__ == "__main__":
    results = Parallel(n_jobs=2, backend="multiprocessing")(delayed(sqrt)(i) for i in range(8))
    print("results", results)
"""


def test_check_script_flags_the_unguarded_script_and_passes_the_guarded_one(tmp_path):
    (tmp_path / "unguarded.py").write_text(UNGUARDED)
    (tmp_path / "guarded.py").write_text(GUARDED)
    bad = parcompare("check-script", "unguarded.py", cwd=tmp_path)
    assert bad.returncode == 1
    assert "line 5: Parallel(n_jobs=2" in bad.stdout and "__name__" in bad.stdout
    good = parcompare("check-script", "guarded.py", cwd=tmp_path)
    assert good.returncode == 0 and "safe" in good.stdout
    assert parcompare("check-script", cwd=tmp_path).returncode == 2
    assert parcompare("check-script", "missing.py", cwd=tmp_path).returncode == 2


def test_check_script_finds_each_kind_of_parallel_work():
    source = textwrap.dedent(
        """\
        import joblib
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.model_selection import GridSearchCV, cross_val_score

        forest = RandomForestClassifier(n_jobs=-1)
        serial = RandomForestClassifier(n_jobs=1)
        search = GridSearchCV(forest, {"max_depth": [2, 3]})
        scores = cross_val_score(serial, X, y)
        search.fit(X, y)
        serial.fit(X, y)

        def main():
            return cross_val_score(serial, X, y)

        def helper():
            return 1

        main()
        helper()
        square = lambda: joblib.Parallel(n_jobs=2)
        with joblib.parallel_config(n_jobs=2):
            forest.fit(X, y)

        if __name__ == "__main__":
            cross_val_score(serial, X, y, n_jobs=-1)
        """
    )
    found = {f.line: f.why for f in check_script.check_source(source)}
    assert set(found) == {5, 8, 9, 18, 22}, found
    assert "n_jobs" in found[5]
    assert "cross_val_score" in found[8]
    assert "search.fit" in found[9]
    assert "main()" in found[18] and "line 13" in found[18]


def _run_until(args, env, needle: str, timeout: float) -> tuple[int | None, str]:
    """Run a script in its own process group; stop it (and every child) once ``needle``
    shows on stderr or the timeout passes. Returns (exit code or None, stderr so far)."""
    process = subprocess.Popen(
        args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
        start_new_session=True,
    )  # fmt: skip
    seen, deadline = b"", time.monotonic() + timeout
    try:
        os.set_blocking(process.stderr.fileno(), False)
        while (
            time.monotonic() < deadline and process.poll() is None and needle.encode() not in seen
        ):
            seen += process.stderr.read() or b""
            time.sleep(0.1)
        code = process.poll()
    finally:  # never leave the hanging script (or its workers) behind
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seen += process.stderr.read() or b""
    process.stderr.close()
    return code, seen.decode(errors="replace")


def test_the_guard_prevents_the_real_spawn_failure(tmp_path):
    """With the spawn start method every worker imports the script again; unguarded, each
    import starts parallel work of its own and the run cannot finish."""
    env = {**os.environ, "JOBLIB_START_METHOD": "spawn"}
    (tmp_path / "unguarded.py").write_text(UNGUARDED)
    (tmp_path / "guarded.py").write_text(GUARDED)
    code, stderr = _run_until(
        [sys.executable, str(tmp_path / "unguarded.py")], env, BOOTSTRAP_ERROR, timeout=60
    )
    assert code != 0  # still hanging (None) or failed
    assert BOOTSTRAP_ERROR in stderr and "__main__" in stderr
    good = subprocess.run(
        [sys.executable, str(tmp_path / "guarded.py")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("results [0.0, 1.0")


def test_python_api_works_from_a_guarded_script_with_every_backend(tmp_path):
    script = tmp_path / "compare.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import json

            from ipyparallel_ds import parcompare

            SETUP = {TINY_SETUP!r}

            if __name__ == "__main__":
                runs = [
                    dict(backend="loky,threading,multiprocessing"),
                    dict(backend="dask,ipyparallel", cluster="local"),
                ]
                seen = []
                for extra in runs:
                    result = parcompare(
                        {TINY_STMT!r}, SETUP, n_jobs=[1, 2], number=1, repeat=1, quiet=True,
                        **extra,
                    )
                    seen += [(c.backend, c.workers) for c in result.configs]
                print(json.dumps(seen))
            """
        )
    )
    env = {**os.environ, "JOBLIB_START_METHOD": "spawn"}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = {tuple(pair) for pair in json.loads(out.stdout.splitlines()[-1])}
    for backend in ("loky", "threading", "multiprocessing", "dask", "ipyparallel"):
        assert (backend, 2) in seen, seen
