"""Statistics of timed runs: quantiles, the bootstrap interval of a ratio, and speedups.

Pure functions of numbers (numpy is imported on first use); nothing here measures anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

__all__ = ["bootstrap_ratio_ci", "efficiency", "median", "quantile", "with_speedups"]

_BOOTSTRAP_RESAMPLES = 2000
_BOOTSTRAP_SEED = 20261124


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of sorted values."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """Median of the values (NaN when there are none)."""
    return quantile(sorted(values), 0.5)


def bootstrap_ratio_ci(
    numerator: Sequence[float], denominator: Sequence[float], paired: bool
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of median(numerator) / median(denominator).

    Paired samples (interleaved runs) are resampled by run index, which keeps the pairing and
    so cancels slow drifts of machine speed; unpaired samples are resampled independently.
    The generator is seeded so that the same timings always give the same interval.
    """
    import numpy as np

    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    if len(num) == 0 or len(den) == 0:
        return (math.nan, math.nan)
    if len(num) < 2 or len(den) < 2:
        point = float(np.median(num) / np.median(den))
        return (point, point)
    rng = np.random.default_rng(_BOOTSTRAP_SEED)
    if paired:
        index = rng.integers(0, len(num), size=(_BOOTSTRAP_RESAMPLES, len(num)))
        ratios = np.median(num[index], axis=1) / np.median(den[index], axis=1)
    else:
        i = rng.integers(0, len(num), size=(_BOOTSTRAP_RESAMPLES, len(num)))
        j = rng.integers(0, len(den), size=(_BOOTSTRAP_RESAMPLES, len(den)))
        ratios = np.median(num[i], axis=1) / np.median(den[j], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return (float(low), float(high))


def efficiency(speedup: float, baseline_workers: int, workers: int) -> float:
    """Speedup per added worker relative to the baseline: ``speedup * baseline / workers``."""
    return speedup * baseline_workers / workers


def with_speedups(configs: Sequence[Any], baseline_index: int) -> list[Any]:
    """Fill ``speedup``, ``speedup_ci`` and ``efficiency`` relative to one baseline config.

    Speedup is the baseline's median per-loop time over the config's. When the config's runs
    were interleaved with baseline runs, those paired runs are the baseline; otherwise all of
    the baseline's runs are. Efficiency is speedup per added worker relative to the baseline:
    ``speedup * baseline.workers / workers``.
    """
    base = configs[baseline_index]
    filled = []
    for index, config in enumerate(configs):
        if index == baseline_index:
            if config.timings:
                config = replace(config, speedup=1.0, speedup_ci=(1.0, 1.0), efficiency=1.0)
            filled.append(config)
            continue
        if not config.timings or not base.timings:
            filled.append(config)  # interrupted before timed runs: nothing to compare
            continue
        paired = len(config.paired_baseline) == len(config.timings)
        reference = config.paired_baseline if paired else base.timings
        speedup = median(reference) / config.median
        ci = bootstrap_ratio_ci(reference, config.timings, paired=paired)
        gain = efficiency(speedup, base.workers, config.workers)
        filled.append(replace(config, speedup=speedup, speedup_ci=ci, efficiency=gain))
    return filled
