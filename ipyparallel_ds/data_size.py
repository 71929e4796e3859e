"""What a data-size sweep says: where parallel starts to pay off, and the full size predicted
from the smaller ones.

Pure functions of the configs a sweep measured at each size (``ConfigTiming.rows``), each
with its speedup against that size's baseline. Nothing here measures anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .timing import ConfigTiming

__all__ = ["SizeFit", "break_even_rows", "by_rows", "fit_sizes"]


def by_rows(configs: Sequence[ConfigTiming]) -> dict[int, list[ConfigTiming]]:
    """The configs of each size, smallest size first."""
    sizes: dict[int, list[ConfigTiming]] = {}
    for config in sorted(configs, key=lambda c: c.rows or 0):
        sizes.setdefault(config.rows or 0, []).append(config)
    return sizes


def _faster(config: ConfigTiming) -> bool:
    """Faster than the baseline as the table shows it: the interval, rounded to two decimals,
    wholly above 1."""
    low = config.speedup_ci[0]
    return not math.isnan(low) and round(low, 2) > 1.0


def break_even_rows(configs: Sequence[ConfigTiming], baseline_workers: int) -> int | None:
    """The smallest measured size at which some parallel value was faster than the baseline
    (its whole 95 % interval above 1), or None when it was at no size."""
    for rows, group in by_rows(configs).items():
        if any(c.workers > baseline_workers and _faster(c) for c in group):
            return rows
    return None


@dataclass(frozen=True)
class SizeFit:
    """Time per call against rows for one value, ``time = fixed + coefficient * rows **
    exponent``, fitted by least squares on the log scale (relative errors) to the sizes below
    ``rows`` (the full data). ``fixed`` is a cost per call that does not grow with the data
    (sending work to the workers, collecting results); with only two sizes it is 0 and the
    power law passes through both.

    ``time`` is the prediction at ``rows`` and ``interval`` its 95 % prediction interval
    (NaN while the sizes fit the parameters exactly); ``measured`` is the median measured at
    ``rows`` when the full size was measured too (NaN otherwise), so that ``error`` says how
    far the prediction was off.
    """

    backend: str
    n_jobs: int
    name: str
    fitted_rows: tuple[int, ...]
    fixed: float
    coefficient: float
    exponent: float
    rows: int
    time: float
    interval: tuple[float, float]
    measured: float

    @property
    def error(self) -> float:
        """Predicted over measured, minus 1 (NaN when the full size was not measured)."""
        return self.time / self.measured - 1 if self.measured > 0 else math.nan


MAX_EXPONENT = 3.0  # no scikit-learn fit we know of grows faster than rows cubed


def _model(params, rows):
    import numpy as np

    fixed, coefficient, exponent = params
    return np.log(fixed + coefficient * np.asarray(rows, dtype=float) ** exponent)


def _fit(rows: list[int], times: list[float], full: int):
    """The parameters, the prediction at ``full`` and its 95 % interval."""
    import numpy as np
    from scipy.optimize import least_squares
    from scipy.stats import t as student

    logs = np.log(times)
    if len(rows) == 2:  # a power law through both points
        exponent = float((logs[1] - logs[0]) / math.log(rows[1] / rows[0]))
        coefficient = float(times[0] / rows[0] ** exponent)
        params = (0.0, coefficient, exponent)
        return params, float(np.exp(_model(params, [full])[0])), (math.nan, math.nan)
    start = (min(times) / 2, max(times) / max(rows), 1.0)
    fit = least_squares(
        lambda p: _model(p, rows) - logs,
        start,
        bounds=([0.0, 0.0, 0.0], [np.inf, np.inf, MAX_EXPONENT]),
        x_scale="jac",
    )
    params = tuple(float(v) for v in fit.x)
    predicted = float(np.exp(_model(params, [full])[0]))
    df = len(rows) - 3
    if df < 1:
        return params, predicted, (math.nan, math.nan)
    spread2 = float(fit.fun @ fit.fun) / df
    step = 1e-6 * np.maximum(np.abs(fit.x), 1e-12)
    grad = np.array([
        (_model(fit.x + np.eye(3)[i] * step[i], [full])[0] - _model(fit.x, [full])[0]) / step[i]
        for i in range(3)
    ])  # fmt: skip
    cov = spread2 * np.linalg.pinv(fit.jac.T @ fit.jac)
    half = float(student.ppf(0.975, df)) * math.sqrt(spread2 + float(grad @ cov @ grad))
    half = min(half, 700.0)  # beyond that the interval is all of (0, inf) in floats anyway
    return params, predicted, (predicted * math.exp(-half), predicted * math.exp(half))


def fit_sizes(configs: Sequence[ConfigTiming], rows: int) -> list[SizeFit]:
    """One :class:`SizeFit` per value measured at two or more sizes below ``rows``."""
    values: dict[tuple[str, int], list[ConfigTiming]] = {}
    for config in configs:
        if config.timings:
            values.setdefault((config.backend, config.n_jobs), []).append(config)
    fits = []
    for (backend, n_jobs), points in values.items():
        below = sorted((c for c in points if c.rows and c.rows < rows), key=lambda c: c.rows)
        if len({c.rows for c in below}) < 2:
            continue
        counts = [c.rows for c in below]
        params, predicted, interval = _fit(counts, [c.median for c in below], rows)
        full = [c.median for c in points if c.rows == rows]
        fits.append(
            SizeFit(
                backend=backend,
                n_jobs=n_jobs,
                name=below[0].name,
                fitted_rows=tuple(counts),
                fixed=params[0],
                coefficient=params[1],
                exponent=params[2],
                rows=rows,
                time=predicted,
                interval=interval,
                measured=full[0] if full else math.nan,
            )
        )
    return fits
