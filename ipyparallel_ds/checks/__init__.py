"""Every warning a result can carry: one function each, run in the order of :data:`CHECKS`.

A check returns a :class:`Finding`: its sentence and the numbers behind it, so that tests can
assert the fact while the words change freely. Checks of a single point take
``(config, context)`` and are grouped with :func:`per_point`, which keeps the warnings of one
point together; checks of the whole sweep take ``(configs, context)``. Events recorded on the
way (:mod:`ipyparallel_ds._events`) are worded by the function :data:`EVENTS` names for their
kind.

The checks live in four modules: :mod:`.events` (what happened during the sweep),
:mod:`.ran` (what really ran), :mod:`.threads` (threads at once against the cores) and
:mod:`.timings` (the timings alone). To add a warning: write
its function in one of them and put it in :data:`OBSERVED_CHECKS` (it needs what the sweep
observed) or :data:`TIMING_CHECKS` (the timings alone are enough), or, for a new kind of
event, in :data:`~.events.EVENTS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..timing import ConfigTiming
from ._base import Check, Context, Finding, PointCheck
from .events import EVENTS, runner_events, sweep_events
from .ran import (
    baseline_ran_in_parallel,
    different_result,
    nested_n_jobs,
    nested_workers,
    no_parallel_call,
    pool_changed,
    pool_per_call,
    preset_n_jobs,
    ran_sequentially,
    results_not_checked,
    same_n_jobs_everywhere,
    setup_n_jobs,
)
from .threads import oversubscription
from .timings import one_budget_run, one_core, still_warming, uneven_runs, unstable_runs

__all__ = [
    "CHECKS",
    "EVENTS",
    "OBSERVED_CHECKS",
    "TIMING_CHECKS",
    "Context",
    "Finding",
    "per_point",
    "run",
]


def per_point(*checks: PointCheck) -> Check:
    """Run point checks over every config, keeping each point's warnings together."""

    def run_per_point(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
        for config in configs:
            for check in checks:
                found = check(config, context)
                if found is not None:
                    yield found

    run_per_point.__name__ = "per_point(" + ", ".join(c.__name__ for c in checks) + ")"
    return run_per_point


# Checks of what was observed: they need the sweep's context (events, the statement, the
# observed fields).
OBSERVED_CHECKS: tuple[Check, ...] = (
    sweep_events,
    preset_n_jobs,
    setup_n_jobs,
    no_parallel_call,
    ran_sequentially,
    same_n_jobs_everywhere,
    per_point(baseline_ran_in_parallel, pool_changed, nested_workers),
    nested_n_jobs,
    per_point(oversubscription),
    per_point(pool_per_call),
    runner_events,
    different_result,
    results_not_checked,
)
# Checks of the timings alone: all that a result built from timings gets (tests, the partial
# chart of the progress display).
TIMING_CHECKS: tuple[Check, ...] = (
    per_point(unstable_runs, uneven_runs, still_warming, one_budget_run),
    one_core,
)
CHECKS = OBSERVED_CHECKS + TIMING_CHECKS


def run(
    configs: Sequence[ConfigTiming], context: Context, checks: Sequence[Check] = CHECKS
) -> list[Finding]:
    """Every finding of ``checks``, in their order."""
    return [finding for check in checks for finding in check(configs, context)]
