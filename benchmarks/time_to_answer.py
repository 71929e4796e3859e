"""Benchmark 1: time to answer and repeatability, %parcompare against a %timeit loop.

On the seed statement (digits, SVC(), cv=20, n_jobs 1 and 2), in one IPython process,
interleaved: a default ``%parcompare -j 1,2`` run, then the loop a user would write by hand::

    for nj in (1, 2):
        %timeit -o cross_val_score(SVC(), X, y, cv=20, n_jobs=nj)

Figures: median wall-time ratio (parcompare / loop) and, for each, the coefficient of
variation of the warm speedup across rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

from ipyparallel_ds.demo import SEED_SETUP, SEED_STATEMENT

LOOP = """\
_loop = {}
for _nj in (1, 2):
    _loop[_nj] = %timeit -o -q cross_val_score(SVC(), X, y, cv=20, n_jobs=_nj)
"""


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def measure(rounds: int, extra: str = "") -> dict:
    shell = InteractiveShell.instance(colors="nocolor")
    shell.run_line_magic("load_ext", "ipyparallel_ds")
    shell.run_cell(SEED_SETUP).raise_error()
    tool_wall, tool_speedup, loop_wall, loop_speedup = [], [], [], []
    for index in range(rounds):
        t0 = time.perf_counter()
        result = shell.run_line_magic("parcompare", f"-o -q -j 1,2 {extra} {SEED_STATEMENT}")
        tool_wall.append(time.perf_counter() - t0)
        tool_speedup.append(result.configs[1].speedup)

        t0 = time.perf_counter()
        shell.run_cell(LOOP).raise_error()
        loop_wall.append(time.perf_counter() - t0)
        loop = shell.user_ns["_loop"]
        # what a user reads off %timeit: the mean of each
        loop_speedup.append(loop[1].average / loop[2].average)
        print(
            f"round {index + 1}: parcompare {tool_wall[-1]:.1f} s, speedup "
            f"{tool_speedup[-1]:.3f}; loop {loop_wall[-1]:.1f} s, speedup {loop_speedup[-1]:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return {
        "rounds": rounds,
        "parcompare_wall": tool_wall,
        "parcompare_speedup": tool_speedup,
        "loop_wall": loop_wall,
        "loop_speedup": loop_speedup,
        "wall_ratio": statistics.median(tool_wall) / statistics.median(loop_wall),
        "parcompare_speedup_cv": cv(tool_speedup),
        "loop_speedup_cv": cv(loop_speedup),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extra", default="", help="extra %%parcompare options")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    figures = measure(args.rounds, args.extra)
    print(
        f"wall-time ratio (median) {figures['wall_ratio']:.2f} (target <= 0.8); "
        f"speedup CV parcompare {figures['parcompare_speedup_cv'] * 100:.1f} % (target <= 3 %), "
        f"loop {figures['loop_speedup_cv'] * 100:.1f} %"
    )
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
