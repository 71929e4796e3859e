"""The verdict and the summary: a learner's sentences, every one computed from the result's
numbers. The result is read through its public attributes only."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._format import format_bytes, format_time
from ._threads import oversubscribed, threads_at_once, time_over_cores
from .scaling import NEAR_BEST
from .size_words import size_sentences

if TYPE_CHECKING:
    from .result import ParCompareResult
    from .timing import ConfigTiming

__all__ = [
    "bigger_machine_sentence",
    "granularity_sentence",
    "prediction_line",
    "summary",
    "verdict",
]


def summary(result: ParCompareResult) -> str:
    """One plain sentence for a learner, computed from the measured numbers."""
    p = result.precision
    base = result.baseline
    others = [c for c in result.configs if c is not base]
    if not base.timings or (others and all(math.isnan(c.speedup) for c in others)):
        firsts = ", ".join(f"{c.name} {format_time(c.first_call, p)}" for c in result.configs)
        return f"Stopped before warm runs could be compared; first calls took: {firsts}."
    others = [c for c in others if not math.isnan(c.speedup)]
    if not others:
        return (
            f"Only {base.name} was measured ({format_time(base.median, p)} per call), "
            "so there is nothing to compare it with; pass more values with -j."
        )
    best = max(others, key=lambda c: c.speedup)
    return " ".join(filter(None, [_speed_sentence(result, best), _startup_sentence(result, best)]))


def _shown_interval(config: ConfigTiming) -> tuple[float, float]:
    """The speedup interval as printed (two decimals), so that the words never contradict the
    numbers next to them: an interval shown as [0.97, 1.00] is not called "slower"."""
    low, high = config.speedup_ci
    return round(low, 2), round(high, 2)


def verdict(result: ParCompareResult) -> str:
    """Speed, start-up and recommendation, each sentence computed from the measurement; with
    ``--budget``, the precision reached and what a larger budget would buy."""
    parts = (_verdict(result), size_sentences(result), budget_sentence(result))
    return " ".join(t for t in parts if t)


def budget_sentence(result: ParCompareResult) -> str:
    """How far the budget went: the precision reached, and the budget that would bring the
    values it stopped to the target precision (empty without a budget)."""
    advice = result.budget_advice
    if advice is None:
        return ""
    used, budget = format_time(advice.used, 2), format_time(advice.budget, 2)
    if advice.used > advice.budget:
        spent = (
            f"The sweep took {used}, more than its {budget} budget (every value gets its "
            "first call and one warm run)"
        )
    else:
        spent = f"The sweep took {used} of its {budget} budget"
    target = _percent(advice.target)
    if not advice.stopped:
        reached = [p for p in advice.precision.values() if not math.isnan(p)]
        if not reached:
            return spent + "."
        return f"{spent}; every speedup is known to ±{_percent(max(reached))} or better (95 %)."
    names = ", ".join(f"{name} at ±{_percent(advice.precision[name])}" for name in advice.stopped)
    text = f"{spent}, and stopped the runs of {names} (95 %)"
    if advice.suggested is None:
        return (
            f"{text}; the runs scatter too much for ±{target} within 50 rounds, so a larger "
            "budget would hardly narrow it: measure on a quieter machine."
        )
    them = "it" if len(advice.stopped) == 1 else "them"
    more = format_time(advice.suggested, 2)
    return f"{text}; a budget of about {more} would bring {them} to ±{target}."


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def _verdict(result: ParCompareResult) -> str:
    if len(result.configs) < 2:
        extra = [_this_machine_sentence(result), granularity_sentence(result)]
        extra.append(bigger_machine_sentence(result))
        return " ".join([summary(result), *(t for t in extra if t)])
    if result.no_effect:
        return (
            f"n_jobs had no effect on this statement: {result.no_effect}, so the differences "
            "between the values are measurement noise; the warnings say how to change that."
        )
    base = result.baseline
    target = result.parallel_choice()
    if target is None or math.isnan(target.speedup):
        return summary(result)
    sentences = [
        _speed_sentence(result, target),
        _startup_sentence(result, target, payback=True),
    ]
    ranking = _backend_ranking(result)
    if ranking:
        sentences.insert(0, ranking)
    memory = _memory_sentence(result, target)
    if memory:
        sentences.append(memory)
    usable = result.environment.get("cores", {}).get("usable")
    if oversubscribed(target, usable):
        sentences.append(
            f"At {target.name} {threads_at_once(target)} on {usable} usable cores"
            f"{time_over_cores(target)} (oversubscription), "
            "which slows every one of them; see the warning."
        )
    elif result.inner_threads is not None:
        sentences.append(
            f"The baseline and every worker ran with {result.inner_threads} BLAS/OpenMP "
            f"thread{'s' if result.inner_threads != 1 else ''} (--inner-threads)."
        )
    recommended = result.recommended
    if recommended is not None:
        why = (
            "the fewest workers within 5 % of the fastest"
            if recommended.workers > base.workers
            else f"no parallel value was more than 5 % faster than {base.name}"
        )
        text = f"Recommended: {recommended.name} ({why})"
        if recommended.workers > base.workers and not _shown_interval(recommended)[0] > 1.0:
            text += _within_noise(recommended)
        sentences.append(text + ".")
    sentences += [t for t in (granularity_sentence(result), bigger_machine_sentence(result)) if t]
    return " ".join(sentences)


def _within_noise(config: ConfigTiming) -> str:
    """Why an advantage is not established: this session's runs scatter too much (more runs
    would settle it), or they agree but sessions on this machine differ by more."""
    low, high = config.session_ci
    if round(low, 2) > 1.0:
        spread = math.sqrt(config.speedup_ci[1] / config.speedup_ci[0]) - 1
        return (
            f", though its advantage ({config.speedup:.2f}×, {low:.2f}-{high:.2f} in this "
            f"session's runs) lies within the variation between sessions on this machine "
            f"(±{_percent(spread)} in all)"
        )
    return (
        ", though its advantage is within the noise of this measurement (more runs with -r "
        "would settle it)"
    )


def _backend_ranking(result: ParCompareResult) -> str:
    """With several backends: each one's best speedup, fastest first."""
    best = {}
    for name, line in result.lines().items():
        measured = [c for c in line if c.backend == name and not math.isnan(c.speedup)]
        if measured:
            best[name] = max(measured, key=lambda c: c.speedup)
    if len(best) < 2:
        return ""
    ranked = sorted(best.values(), key=lambda c: -c.speedup)
    parts = [
        f"{c.backend} {c.speedup:.2f}× (at {c.workers} worker{'s' if c.workers != 1 else ''})"
        for c in ranked
    ]
    return f"Best speedup per backend, fastest first: {', '.join(parts)}."


def _memory_sentence(result: ParCompareResult, config: ConfigTiming) -> str:
    """Said when memory grew by more than the kernel's own size: each worker is a process."""
    kernel = result.kernel_memory
    if math.isnan(config.memory_increase) or math.isnan(kernel):
        return ""
    if config.memory_increase <= kernel:
        return ""
    return (
        f"With its {config.workers} workers the kernel and its workers peaked at "
        f"{format_bytes(config.peak_memory)}, {format_bytes(config.memory_increase)} more than "
        f"the kernel's own {format_bytes(kernel)}: every worker is a separate Python process "
        "with its own copy of what it needs."
    )


def _startup_sentence(result: ParCompareResult, config: ConfigTiming, payback: bool = False) -> str:
    """The first call's start-up cost and, with ``payback``, when it is paid back."""
    p = result.precision
    startup = config.startup_cost
    cluster = ""
    if not math.isnan(config.cluster_startup):
        cluster = (
            f"Starting the cluster's {config.workers} worker"
            f"{'s' if config.workers != 1 else ''} took "
            f"{format_time(config.cluster_startup, p)}, apart from any call. "
        )
    if not startup > 0:
        return (
            f"Its first call ({format_time(config.first_call, p)}) was no slower than a warm one."
            + (f" {cluster.strip()}" if cluster else "")
        )
    if cluster:
        why = "on the fresh workers"
    elif config.ran_threads and not config.ran_processes:  # only threads: no process starts
        why = "(thread pool starting, first-call overheads)"
    else:
        why = "while the workers started"
    text = cluster + (
        f"Its first call took {format_time(config.first_call, p)} {why}, "
        f"{format_time(startup, p)} more than a warm call"
    )
    if payback:
        calls = result.break_even_calls
        if calls is None:
            text += ", and it never pays that back, since its warm calls are no faster"
        elif not _shown_interval(config)[0] > 1.0:
            text += (
                f", which would take {calls} call{'s' if calls != 1 else ''} to pay back, but "
                "its warm calls are not measurably faster, so it may never pay back"
            )
        else:
            text += f", and it pays that back after {calls} call{'s' if calls != 1 else ''}"
    return text + "."


def _speed_sentence(result: ParCompareResult, config: ConfigTiming) -> str:
    base = result.baseline
    low, high = _shown_interval(config)
    name, reference = config.name, base.name
    if low > 1.0:
        return (
            f"Once its workers run, {name} is {config.speedup:.2f}× as fast as {reference} "
            f"({config.efficiency * 100:.0f} % efficiency)." + _doubt(config, low, high)
        )
    if high < 1.0:
        return (
            f"{name} is slower than {reference} even with its workers running "
            f"({config.speedup:.2f}× the speed): here parallel work costs more than it saves."
        )
    return (
        f"{name} is not measurably faster than {reference} "
        f"({config.speedup:.2f}×, 95 % interval {low:.2f}-{high:.2f})."
    )


# Efficiency this far above 100 % is more than the added workers can give.
SUPERLINEAR = 1.10


def _doubt(config: ConfigTiming, low: float, high: float) -> str:
    """What makes a measured speedup doubtful, a sentence each (empty when nothing does): an
    interval wider than the estimate itself, and efficiency above 100 % (more than the added
    workers can give)."""
    doubts = ""
    if high - low > config.speedup:
        doubts += (
            f" Its 95 % interval ({low:.2f}-{high:.2f}) is wider than the speedup itself, so "
            "this figure is not reliable: measure again with more runs (-r)."
        )
    if config.efficiency > SUPERLINEAR:
        doubts += (
            f" That is more than its {config.workers} workers can give "
            f"({config.efficiency * 100:.0f} % efficiency): the baseline's runs were probably "
            "slowed by something else, or the workers' caches helped; measure again before "
            "trusting it."
        )
    return doubts


# -- what the tasks allow, and the prediction for a bigger machine ----------------------------
# Tasks this close in length are "equal": rounds of them are said as rounds.
EQUAL_TASKS = 1.5


def _main_call(result: ParCompareResult):
    """The serial run's call with the most work, if its tasks were timed."""
    calls = [c for c in result.tasks if c.timed]
    return max(calls, key=lambda c: c.work, default=None)


def _counts(result: ParCompareResult) -> list[int]:
    return [p.workers for p in result.predictions]


def granularity_sentence(result: ParCompareResult) -> str:
    """Said when the tasks of the statement's main joblib call limit the speedup within the
    predicted worker counts: their number (in rounds) or the longest task."""
    call, counts = _main_call(result), _counts(result)
    if call is None or call.tasks < 1 or not counts or result.baseline.workers != 1:
        return ""
    k, top = call.tasks, max(counts)
    durations = sorted(call.durations)
    equal = durations[-1] <= EQUAL_TASKS * durations[len(durations) // 2]
    what = f"Its main joblib call ({call.backend}) runs {k} task{'s' if k != 1 else ''}"
    if equal and k < top:
        text = f"{what}: more than {k} workers cannot run at once"
        uneven = [p for p in counts if 1 < p < k and k % p]
        if uneven:
            p = max(uneven)
            rounds = -(-k // p)
            text += (
                f"; at {p} workers they take {rounds} rounds, so at best "
                f"{k / rounds:.1f}× from the tasks alone"
            )
        return text + "."
    if call.parallelism < top:
        share = call.longest / call.work * 100
        return (
            f"{what}; the longest takes {share:.0f} % of their {format_time(call.work, 3)} "
            f"together, so no number of workers makes the call more than "
            f"{call.parallelism:.1f}× faster."
        )
    return ""


def _this_machine_sentence(result: ParCompareResult) -> str:
    """With the serial value alone: what its tasks predict on this machine's cores."""
    usable = result.environment.get("cores", {}).get("usable", 1)
    made = [m for m in result.predictions if 1 < m.workers <= usable]
    if not made:
        return ""
    best = max(made, key=lambda m: m.speedup)
    return (
        f"Predicted from its tasks on this machine's {usable} cores: n_jobs={best.workers} "
        f"would give {best.speedup:.2f}× (the tasks allow at most {best.limit:.2f}× there; "
        f"from {best.based_on})."
    )


def bigger_machine_sentence(result: ParCompareResult) -> str:
    """The best n_jobs on the largest predicted machine, in one sentence, with what its
    workers would need in memory where a per-worker figure was measured."""
    made = result.predictions
    usable = result.environment.get("cores", {}).get("usable", 1)
    if len(made) < 2 or max(m.workers for m in made) <= usable:
        return ""
    top = max(m.workers for m in made)
    best = max(m.speedup for m in made)
    chosen = min(
        (m for m in made if m.speedup * (1.0 + NEAR_BEST) >= best), key=lambda m: m.workers
    )
    call = _main_call(result)
    if chosen.workers == 1:
        return (
            f"Predicted from the tasks for a machine with {top} cores: no n_jobs would be "
            f"more than {NEAR_BEST * 100:.0f} % faster than n_jobs=1; the tasks are too short for "
            "their overhead."
        )
    text = (
        f"Predicted from the tasks for a machine with {top} cores: n_jobs={chosen.workers} "
        f"would give {chosen.speedup:.1f}× (the tasks allow at most {chosen.limit:.1f}× there)"
    )
    if chosen.workers < top:
        why = f"{call.tasks} tasks" if call is not None else "its tasks"
        text += f", and more workers would add less than {NEAR_BEST * 100:.0f} % with {why}"
    memory = _per_worker_memory(result)
    if memory is not None and chosen.workers > 1:
        kernel = result.kernel_memory
        text += (
            f"; {chosen.workers} workers would need about "
            f"{format_bytes(kernel + chosen.workers * memory)} with the kernel "
            f"({format_bytes(memory)} per worker as measured)"
        )
    return text + "."


def _per_worker_memory(result: ParCompareResult) -> float | None:
    measured = [c.memory_per_worker for c in result.configs if not math.isnan(c.memory_per_worker)]
    if not measured or math.isnan(result.kernel_memory):
        return None
    return max(measured)


def prediction_line(result: ParCompareResult) -> str:
    """The predicted speedups as the report prints them (empty when nothing is predicted)."""
    made = [m for m in result.predictions if m.workers > 1]
    if not made:
        return ""
    parts = ", ".join(f"{m.workers}: {m.speedup:.2f}× (limit {m.limit:.2f}×)" for m in made)
    return f"predicted from the tasks, workers: speedup (limit of the tasks)\n  {parts}"
