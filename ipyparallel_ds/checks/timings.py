"""Checks of the timings alone, in the spirit of %timeit and pyperf: runs too unsteady to trust,
workers not yet warm, one usable core."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..timing import ConfigTiming
from ._base import Context, Finding, finding

# Runs whose interquartile range reaches this share of the median are called unstable.
UNSTABLE_SPREAD = 0.10
# As %timeit: warn when the slowest run took this many times longer than the fastest.
SLOWEST_FASTEST_RATIO = 4.0


def unstable_runs(config: ConfigTiming, context: Context) -> Finding | None:
    c = config
    if not (c.repeat >= 3 and c.median > 0 and c.iqr >= UNSTABLE_SPREAD * c.median):
        return None
    return finding(
        unstable_runs,
        f"the timed runs at {c.name} were unstable: their spread (IQR) is "
        f"{c.iqr / c.median * 100:.0f} % of the median. Something else may have been "
        "using the CPU; close other work or add runs with -r.",
        spread=c.iqr / c.median,
    )


def uneven_runs(config: ConfigTiming, context: Context) -> Finding | None:
    c = config
    if not (c.best > 0 and c.worst > 1e-6 and c.worst > SLOWEST_FASTEST_RATIO * c.best):
        return None
    return finding(
        uneven_runs,
        f"at {c.name} the slowest run took {c.worst / c.best:.1f} times longer "
        "than the fastest: the runs were not all alike (caching, or a pool restarted).",
        ratio=c.worst / c.best,
    )


def still_warming(config: ConfigTiming, context: Context) -> Finding | None:
    if config.warm_settled:
        return None
    return finding(
        still_warming,
        f"at {config.name} the runs were still getting faster after "
        f"{len(config.warmup_calls)} of them were set apart as warm-up, so the workers may "
        "not have been fully warm when timing ended.",
        warmup_calls=list(config.warmup_calls),
    )


def one_budget_run(config: ConfigTiming, context: Context) -> Finding | None:
    """A value the budget left with one warm run: the statement is too long for its share."""
    if config.stopped_by != "budget" or config.repeat != 1:
        return None
    low, high = config.speedup_ci
    reach = f" (its speedup's 95 % interval is {low:.2f}-{high:.2f})" if low > 0 else ""
    return finding(
        one_budget_run,
        f"{config.name} got its first call and one warm run only: the statement is too long "
        f"for its share of the --budget, so the precision is low{reach}.",
        runs=config.repeat,
    )


def one_core(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    if context.usable == 1:
        yield finding(
            one_core,
            "this process may use only one CPU core, so no n_jobs value can run in parallel.",
            usable=1,
        )
