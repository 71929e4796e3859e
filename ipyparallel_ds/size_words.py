"""The words and the text table of a data-size sweep: how the speedup moved with the rows,
where parallel started to pay off, and the full size predicted from the smaller ones. Every
number comes from the result (``size_configs``, ``break_even_rows``, ``size_fits``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._format import format_time
from .data_size import by_rows

if TYPE_CHECKING:
    from .result import ParCompareResult
    from .timing import ConfigTiming

__all__ = ["size_sentences", "size_table"]


def _same(config: ConfigTiming, other: ConfigTiming) -> bool:
    return config.backend == other.backend and config.n_jobs == other.n_jobs


def _target(result: ParCompareResult) -> ConfigTiming | None:
    """The parallel value the sentences follow across sizes: the verdict's."""
    chosen = result.parallel_choice()
    if chosen is None:
        others = [c for c in result.configs if c.workers > result.baseline.workers]
        chosen = others[0] if others else None
    return chosen


def size_sentences(result: ParCompareResult) -> str:
    """The speedup at each size, the break-even size, and the fit's prediction (empty
    without a data-size sweep)."""
    target = _target(result)
    if not result.size_configs or target is None:
        return ""
    base = result.baseline
    steps = []
    for rows, group in by_rows(result.size_configs).items():
        match = [c for c in group if _same(c, target) and not math.isnan(c.speedup)]
        if match:
            steps.append(f"{match[0].speedup:.2f}× at {rows} rows")
    text = f"Against data size, {target.name} ran {', '.join(steps)} (against {base.name})"
    even = result.break_even_rows
    if even is None:
        text += "; at no size measured was a parallel value measurably faster."
    else:
        text += f"; parallel was measurably faster from {even} rows on."
    return " ".join(t for t in (text, _fit_sentence(result, base, target)) if t)


def _fit_sentence(result: ParCompareResult, base: ConfigTiming, target: ConfigTiming) -> str:
    fits = {(f.backend, f.n_jobs): f for f in result.size_fits}
    one, other = fits.get((base.backend, base.n_jobs)), fits.get((target.backend, target.n_jobs))
    if one is None or other is None:
        return ""
    below = ", ".join(str(r) for r in one.fitted_rows)
    text = (
        f"Fitted to {below} rows, the time per call {_growth(one)} at {base.name} and "
        f"{_growth(other)} at {target.name}, which predicts {format_time(one.time, 3)} and "
        f"{format_time(other.time, 3)} at {one.rows} rows ({one.time / other.time:.2f}×)"
    )
    if not math.isnan(one.measured) and not math.isnan(other.measured):
        return (
            f"{text}; measured: {format_time(one.measured, 3)} and "
            f"{format_time(other.measured, 3)} (the prediction off by {one.error * 100:+.0f} % "
            f"and {other.error * 100:+.0f} %)."
        )
    if math.isnan(other.interval[0]):
        return (
            f"{text}; {len(one.fitted_rows)} sizes determine the fit exactly, so its error is "
            "unknown: measure one more size (or the full data) to get one."
        )
    low, high = other.interval
    return (
        f"{text}; at {target.name} the 95 % prediction interval is "
        f"{format_time(low, 3)} to {format_time(high, 3)}."
    )


def _growth(fit) -> str:
    grows = f"rows^{fit.exponent:.2f}"
    if fit.fixed > 0.01 * fit.time:  # a fixed cost too small to matter is not named
        return f"is {format_time(fit.fixed, 2)} plus a part that grows as {grows}"
    return f"grows as {grows}"


def size_table(result: ParCompareResult) -> str:
    """Speedup against rows, one column per parallel value (empty without a sweep)."""
    if not result.size_configs:
        return ""
    base = result.baseline
    values = [c for c in result.configs if not _same(c, base)]
    header = ["rows", f"{base.name} (warm)", *(f"{c.name} speedup" for c in values)]
    rows = [header]
    for count, group in by_rows(result.size_configs).items():
        own = [c for c in group if _same(c, base)]
        cells = [str(count), format_time(own[0].median, 3) if own else "-"]
        for value in values:
            match = [c for c in group if _same(c, value) and not math.isnan(c.speedup)]
            cells.append(f"{match[0].speedup:.2f}×" if match else "-")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["speedup against data size"]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
