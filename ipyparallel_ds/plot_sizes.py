"""The chart's "speedup against data size" view (``result.plot("size")``): each parallel
value's speedup at every size of a data-size sweep, with its 95 % interval, the line where
parallel is as fast as the baseline, the break-even size, and the full size predicted from
the smaller ones when it was not measured.

It draws on Axes that :func:`ipyparallel_ds.plot.plot` makes, so it imports nothing of
matplotlib itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .data_size import by_rows

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .result import ParCompareResult

__all__ = ["draw_sizes"]


def draw_sizes(ax: Axes, result: ParCompareResult, options: dict[str, Any]) -> None:
    """Speedup against rows, one line per parallel value, on a logarithmic row axis."""
    base = result.baseline
    sizes = by_rows(result.size_configs)
    values = [c for c in result.configs if (c.backend, c.n_jobs) != (base.backend, base.n_jobs)]
    for index, value in enumerate(values):
        points = []
        for rows, group in sizes.items():
            for c in group:
                same = (c.backend, c.n_jobs) == (value.backend, value.n_jobs)
                if same and not math.isnan(c.speedup):
                    points.append((rows, c.speedup, c.speedup_ci))
        if not points:
            continue
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        errors = [[y - ci[0] for _, y, ci in points], [ci[1] - y for _, y, ci in points]]
        colour = f"C{index}"
        ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, color=colour, label=value.name)
        _predicted_full(ax, result, value, colour)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label=f"as fast as {base.name}")
    even = result.break_even_rows
    if even is not None:
        ax.axvline(even, color="tab:red", linestyle=":", label=f"faster from {even} rows")
    ax.set_xscale("log")
    ticks = sorted({*sizes, result.data_rows or 0} - {0})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    if options.get("log_scale"):
        ax.set_yscale("log")
    names = ", ".join(result.data_names) or "the data"
    ax.set_xlabel(f"rows of {names} (of {result.data_rows})")
    ax.set_ylabel(f"speedup against {base.name} (×)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)


def _predicted_full(ax: Axes, result: ParCompareResult, value: Any, colour: str) -> None:
    """The speedup the size fits predict at the full size, when it was not measured."""
    fits = {(f.backend, f.n_jobs): f for f in result.size_fits}
    base = result.baseline
    one, other = fits.get((base.backend, base.n_jobs)), fits.get((value.backend, value.n_jobs))
    if one is None or other is None or not math.isnan(other.measured):
        return
    ax.plot(
        [one.rows], [one.time / other.time], marker="o", markerfacecolor="none",
        linestyle="none", color=colour, label=f"{value.name}, predicted at {one.rows} rows",
    )  # fmt: skip
