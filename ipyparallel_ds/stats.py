"""Statistics of timed runs: quantiles, the speedup's interval, and speedups.

Pure functions of numbers (scipy's t quantile is imported on first use); nothing here
measures anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

__all__ = [
    "BETWEEN_SESSIONS_DF",
    "BETWEEN_SESSIONS_LOG_SD",
    "between_sessions",
    "efficiency",
    "log_half_width",
    "median",
    "pooled_log_spread",
    "quantile",
    "speedup_interval",
    "with_speedups",
]


# How far one session's warm speedup lies from another's on the same machine: the standard
# deviation of the log speedup between fresh processes, each with its own worker pool, and its
# degrees of freedom (processes - 1). Measured by benchmarks/estimators.py (16 processes) on
# the seed statement on the reference 2-core machine (results/estimators.json; a test in
# tests/test_result.py checks these against that file). More runs in one session cannot
# shrink this part.
BETWEEN_SESSIONS_LOG_SD = 0.0408
BETWEEN_SESSIONS_DF = 15


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


def speedup_interval(
    reference: Sequence[float],
    timings: Sequence[float],
    groups: Sequence[Sequence[float]] = (),
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Student-t interval of the speedup ``median(reference) / median(timings)``.

    The interval is on the log scale, around the speedup: ``speedup * exp(± t * s *
    sqrt(1/n_ref + 1/n))``. Its noise ``s`` is the spread of log times pooled over
    ``groups`` (each point's per-loop times in the sweep, every group around its own mean;
    by default the two samples themselves), which gives the few runs of a sweep the degrees
    of freedom of all of its runs. With no degree of freedom it is the point itself.
    See "How the numbers are made" for the evidence behind it.
    """
    if not reference or not timings:
        return (math.nan, math.nan)
    point = median(reference) / median(timings)
    spread, df = pooled_log_spread(groups or (reference, timings))
    if df == 0:
        return (point, point)
    half = log_half_width(spread, df, len(reference), len(timings), confidence)
    half = min(half, 700.0)  # past this exp() overflows; the interval is (0, inf) in effect
    return (point * math.exp(-half), point * math.exp(half))


def between_sessions(
    point: float,
    session: tuple[float, float],
    sd: float = BETWEEN_SESSIONS_LOG_SD,
    df: int = BETWEEN_SESSIONS_DF,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Widen a session's speedup interval so that it also holds what another session on the
    same machine would measure.

    ``session`` is :func:`speedup_interval`'s (symmetric on the log scale around ``point``);
    the between-session half-width is Student's t at ``df`` times ``sd``, and the two
    half-widths add in quadrature: ``point * exp(± sqrt(h_session² + (t * sd)²))``.
    """
    from scipy.stats import t as student

    low, high = session
    if not (point > 0 and low > 0 and high > 0) or sd <= 0:
        return session
    within = math.log(high / low) / 2
    between = float(student.ppf(0.5 + confidence / 2, df)) * sd
    half = min(math.hypot(within, between), 700.0)
    return (point * math.exp(-half), point * math.exp(half))


def pooled_log_spread(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The standard deviation of log times pooled over groups (each around its own mean),
    and its degrees of freedom."""
    squares, df = 0.0, 0
    for group in groups:
        logs = [math.log(x) for x in group if x > 0]
        if len(logs) > 1:
            mean = math.fsum(logs) / len(logs)
            squares += math.fsum((x - mean) ** 2 for x in logs)
            df += len(logs) - 1
    return (math.sqrt(squares / df) if df else 0.0, df)


def log_half_width(
    spread: float, df: int, n_reference: int, n: int, confidence: float = 0.95
) -> float:
    """Half-width on the log scale of the speedup's interval: ``t * s * sqrt(1/n_ref + 1/n)``."""
    from scipy.stats import t as student

    t = float(student.ppf(0.5 + confidence / 2, df))
    return t * spread * math.sqrt(1 / n_reference + 1 / n)


def efficiency(speedup: float, baseline_workers: int, workers: int) -> float:
    """Speedup per added worker relative to the baseline: ``speedup * baseline / workers``."""
    return speedup * baseline_workers / workers


def with_speedups(configs: Sequence[Any], baseline_index: int) -> list[Any]:
    """Fill ``speedup``, ``session_ci``, ``speedup_ci`` and ``efficiency`` relative to one
    baseline config.

    Speedup is the baseline's median per-loop time over the config's. When the config's runs
    were interleaved with baseline runs, the baseline runs of its rounds are the reference;
    otherwise all of the baseline's runs are. ``session_ci`` pools the noise of every config's
    runs (:func:`speedup_interval`); ``speedup_ci`` widens it by the variation between
    sessions (:func:`between_sessions`). Efficiency is speedup per added worker relative to the
    baseline: ``speedup * baseline.workers / workers``.
    """
    base = configs[baseline_index]
    groups = [c.timings for c in configs if c.timings]
    filled = []
    for index, config in enumerate(configs):
        if index == baseline_index:
            if config.timings:
                config = replace(
                    config,
                    speedup=1.0,
                    session_ci=(1.0, 1.0),
                    speedup_ci=(1.0, 1.0),
                    efficiency=1.0,
                )
            filled.append(config)
            continue
        if not config.timings or not base.timings:
            filled.append(config)  # interrupted before timed runs: nothing to compare
            continue
        reference = config.paired_baseline or base.timings
        speedup = median(reference) / config.median
        session = speedup_interval(reference, config.timings, groups)
        ci = between_sessions(speedup, session)
        gain = efficiency(speedup, base.workers, config.workers)
        filled.append(
            replace(config, speedup=speedup, session_ci=session, speedup_ci=ci, efficiency=gain)
        )
    return filled
