"""Benchmark 5: harness overhead on a statement too small to parallelize.

``%parcompare -j 1`` against ``%timeit`` on ``sum(range(1000))``, five interleaved rounds in
one IPython; figure: ratio of the medians of their per-loop medians.
"""

from __future__ import annotations

import statistics

from _common import Figure
from IPython.core.interactiveshell import InteractiveShell

STATEMENT = "sum(range(1000))"


def measure(rounds: int = 5) -> Figure:
    shell = InteractiveShell.instance(colors="nocolor")
    if "parcompare" not in shell.magics_manager.magics["line"]:
        shell.run_line_magic("load_ext", "ipyparallel_ds")
    ours, theirs = [], []
    for _ in range(rounds):
        result = shell.run_line_magic("parcompare", f"-o -q -j 1 {STATEMENT}")
        ours.append(result.configs[0].median)
        timeit = shell.run_line_magic("timeit", f"-o -q {STATEMENT}")
        theirs.append(statistics.median(t / timeit.loops for t in timeit.all_runs))
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    ratio = ours_median / theirs_median
    return Figure(
        "harness overhead: %parcompare -j 1 per-loop time / %timeit's, sum(range(1000))",
        (ratio - 1) * 100,
        "%",
        "within ±5 %",
        abs(ratio - 1) <= 0.05,
        note=f"{ours_median * 1e6:.2f} µs against {theirs_median * 1e6:.2f} µs",
        details={"parcompare": ours, "timeit": theirs},
    )
