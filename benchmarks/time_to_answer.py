"""Benchmark 1: time to answer and repeatability, %parcompare against a %timeit loop.

On the seed statement (digits, SVC(), cv=20, n_jobs 1 and 2), in one IPython process,
interleaved: a default ``%parcompare -j 1,2`` run, then the loop a user would write by hand::

    for nj in (1, 2):
        %timeit -o cross_val_score(SVC(), X, y, cv=20, n_jobs=nj)

Figures: median wall-time ratio (parcompare / loop) and, for each, the coefficient of
variation of the warm speedup across rounds. The rounds' results are kept for benchmarks 2
and 3.
"""

from __future__ import annotations

import statistics
import time

from _common import Figure, cv, log
from IPython.core.interactiveshell import InteractiveShell

from ipyparallel_ds.demo import SEED_SETUP, SEED_STATEMENT

LOOP = """\
_loop = {}
for _nj in (1, 2):
    _loop[_nj] = %timeit -o -q cross_val_score(SVC(), X, y, cv=20, n_jobs=_nj)
"""


def measure(rounds: int = 5) -> dict:
    shell = InteractiveShell.instance(colors="nocolor")
    shell.run_line_magic("load_ext", "ipyparallel_ds")
    shell.run_cell(SEED_SETUP).raise_error()
    tool_wall, tool_speedup, first_calls, loop_wall, loop_speedup = [], [], [], [], []
    for index in range(rounds):
        t0 = time.perf_counter()
        result = shell.run_line_magic("parcompare", f"-o -q -j 1,2 {SEED_STATEMENT}")
        tool_wall.append(time.perf_counter() - t0)
        tool_speedup.append(result.configs[1].speedup)
        first_calls.append(result.configs[1].first_call)

        t0 = time.perf_counter()
        shell.run_cell(LOOP).raise_error()
        loop_wall.append(time.perf_counter() - t0)
        loop = shell.user_ns["_loop"]
        # what a user reads off two %timeit lines: the ratio of their means
        loop_speedup.append(loop[1].average / loop[2].average)
        log(
            f"  round {index + 1}: parcompare {tool_wall[-1]:.1f} s, speedup "
            f"{tool_speedup[-1]:.3f}; loop {loop_wall[-1]:.1f} s, speedup {loop_speedup[-1]:.3f}"
        )
    return {
        "parcompare_wall": tool_wall,
        "parcompare_speedup": tool_speedup,
        "parcompare_first_call_n_jobs_2": first_calls,
        "loop_wall": loop_wall,
        "loop_speedup": loop_speedup,
    }


def figures(data: dict) -> list[Figure]:
    ratio = statistics.median(data["parcompare_wall"]) / statistics.median(data["loop_wall"])
    tool_cv = cv(data["parcompare_speedup"])
    loop_cv = cv(data["loop_speedup"])
    return [
        Figure(
            "time to answer: median wall time, %parcompare / %timeit loop",
            ratio,
            "",
            "<= 0.8",
            ratio <= 0.8,
            details={k: data[k] for k in ("parcompare_wall", "loop_wall")},
        ),
        Figure(
            "repeatability: CV of the warm speedup over the %parcompare runs",
            tool_cv * 100,
            "%",
            "<= 3 %",
            tool_cv <= 0.03,
            note=f"the %timeit loop's CV in the same rounds: {loop_cv * 100:.1f} %",
            details={k: data[k] for k in ("parcompare_speedup", "loop_speedup")},
        ),
    ]
