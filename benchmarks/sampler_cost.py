"""Benchmark 8: what the tool's own observation does to the speedup it reports.

On the seed statement (digits, ``SVC()``, ``cv=20``, n_jobs 1 and 2), in one process,
alternating: a default ``parcompare`` sweep (memory sampled in first calls and warm-ups, tasks
timed, threads counted) and the same sweep with ``memory=False``. The figure is the median
speedup of the first over the second, minus 1: the memory sampler must not slow the timed
runs, which it did while it sampled during them (1.53× against 1.69× at 2197e0d, eight
sweeps of each).

    python benchmarks/sampler_cost.py [ROUNDS]     # the figure alone, six rounds by default
"""

from __future__ import annotations

import statistics
import sys

from _common import Figure, log

from ipyparallel_ds import parcompare
from ipyparallel_ds.demo import SEED_SETUP, SEED_STATEMENT


def measure(rounds: int = 6) -> Figure:
    speedups: dict[str, list[float]] = {"default": [], "memory=False": []}
    for index in range(rounds):
        for name, memory in (("default", None), ("memory=False", False)):
            result = parcompare(
                SEED_STATEMENT, SEED_SETUP, n_jobs=[1, 2], quiet=True, memory=memory
            )
            speedups[name].append(result.configs[1].speedup)
        log(
            f"  round {index + 1}: default {speedups['default'][-1]:.3f}, "
            f"memory=False {speedups['memory=False'][-1]:.3f}"
        )
    default = statistics.median(speedups["default"])
    plain = statistics.median(speedups["memory=False"])
    effect = default / plain - 1
    return Figure(
        "observation's effect on the speedup: default sweep / memory=False sweep - 1",
        effect * 100,
        "%",
        "within ±3 %",
        abs(effect) <= 0.03,
        f"medians of {rounds} alternating sweeps each: {default:.3f}× and {plain:.3f}×",
        details=speedups,
    )


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 6).line())
