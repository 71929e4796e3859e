"""How precise the speedups are, and what a larger ``--budget`` would buy.

From the measured runs only: the precision of a value is the half-width of its speedup's
95 % interval from this session's runs, ``sqrt(high / low) - 1`` (``session_ci``, the
stopping rule's measure; the variation between sessions, which no run of this one shrinks,
is left out). For each value whose
rounds the budget stopped before they settled, the rounds still needed for the target
precision follow from the same pooled noise (:func:`ipyparallel_ds.stats.pooled_log_spread`),
each round costing what its latest runs cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._options import MAX_BUDGET_ROUNDS, TARGET_PRECISION
from .stats import log_half_width, median, pooled_log_spread
from .timing import ConfigTiming

__all__ = ["BudgetAdvice", "budget_advice", "precision_of"]


def precision_of(config: ConfigTiming) -> float:
    """The ± half-width of a speedup's 95 % interval from this session's runs
    (``session_ci``, else ``speedup_ci`` for results saved before it), as a fraction (NaN
    without one)."""
    low, high = config.session_ci
    if not (low > 0 and high > 0):
        low, high = config.speedup_ci
    if not (low > 0 and high > 0):
        return math.nan
    return math.sqrt(high / low) - 1


@dataclass(frozen=True)
class BudgetAdvice:
    """What a ``--budget`` sweep reached.

    ``precision`` maps each value measured (by name) to its :func:`precision_of`;
    ``stopped`` names the values whose rounds the budget ended before the answer settled,
    and ``one_run`` those of them that got a single warm run. ``more_seconds`` is the time
    those values would need to reach ±``target`` (None: none was stopped, or not within
    50 rounds), so that ``suggested`` is the budget that would buy it.
    """

    budget: float
    used: float
    precision: dict[str, float]
    stopped: tuple[str, ...]
    one_run: tuple[str, ...]
    more_seconds: float | None
    target: float = TARGET_PRECISION

    @property
    def suggested(self) -> float | None:
        return None if self.more_seconds is None else self.used + self.more_seconds


def _rounds_needed(
    config: ConfigTiming, n_reference: int, spread: float, df: int, target: float
) -> int | None:
    """Rounds to add (one run on each side per round) for ±target, or None past the cap."""
    wanted = math.log1p(target)
    for extra in range(1, MAX_BUDGET_ROUNDS + 1):
        half = log_half_width(spread, df + 2 * extra, n_reference + extra, config.repeat + extra)
        if half <= wanted:
            return extra
    return None


def budget_advice(
    configs: Sequence[ConfigTiming], baseline_index: int, budget: float | None, used: float
) -> BudgetAdvice | None:
    """The precision a budgeted sweep reached and the time more would take (None without a
    budget)."""
    if budget is None:
        return None
    base = configs[baseline_index]
    others = [c for i, c in enumerate(configs) if i != baseline_index and c.timings]
    spread, df = pooled_log_spread([c.timings for c in configs if c.timings])
    stopped = [c for c in others if c.stopped_by == "budget"]
    more: float | None = 0.0 if stopped else None
    for config in stopped:
        reference = config.paired_baseline or base.timings
        extra = _rounds_needed(config, len(reference), spread, df, TARGET_PRECISION) if df else None
        if extra is None or more is None:
            more = None
            continue
        round_seconds = config.median * config.loops
        if config.paired_baseline:
            round_seconds += median(reference) * base.loops
        more += extra * round_seconds
    return BudgetAdvice(
        budget=budget,
        used=used,
        precision={c.name: precision_of(c) for c in others},
        stopped=tuple(c.name for c in stopped),
        one_run=tuple(c.name for c in stopped if c.repeat == 1),
        more_seconds=more,
    )
