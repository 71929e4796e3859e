"""What really ran: n_jobs that did not reach the code, nested parallelism, backends that
start a pool per call, and results that differ."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from .._format import format_time
from ..backends import traits
from ..timing import ConfigTiming
from ._base import Context, Finding, finding, observed_points, parallel_point

MAX_PARTS_SHOWN = 3
# A process that runs this many threads at once on average (or, where threads were not
# counted, a serial run that keeps this many cores busy) runs threads of its own.
THREADED = 1.3


def preset_n_jobs(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """Objects built before the statement with n_jobs set: the sweep cannot change them."""
    preset = context.preset
    if not preset:
        return
    named = ", ".join(f"{name} (n_jobs={value})" for name, value in preset.items())
    observed = observed_points(configs)
    seen = {tuple(c.effective_n_jobs) for c in observed if c.parallel_calls}
    fixed = (
        len(observed) > 1
        and len(seen) == 1
        and len(observed) == len([c for c in observed if c.parallel_calls])
    )
    yield finding(
        preset_n_jobs,
        f"the statement uses {named}, built before it with n_jobs set; %parcompare cannot "
        "change that, so those calls ran with the same n_jobs at every value. Build the "
        "object inside the statement, or leave its n_jobs unset.",
        "n_jobs was fixed on an object built before the statement" if fixed else "",
        preset=dict(preset),
        effective_n_jobs_seen=sorted(seen),
    )


def setup_n_jobs(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    if context.setup_n_jobs_keywords:
        yield finding(
            setup_n_jobs,
            "the setup code sets n_jobs=, which %parcompare does not rewrite (only the timed "
            "statement's n_jobs= keywords are); objects built there keep that value.",
            keywords=context.setup_n_jobs_keywords,
        )


def no_parallel_call(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """The statement made no joblib parallel call at any value."""
    observed = observed_points(configs)
    if not observed or not all(c.parallel_calls == 0 for c in observed):
        return
    reason = ""
    if len(observed) > 1:
        reason = "the statement made no joblib parallel call"
        lead = "n_jobs had no effect: the statement made no joblib parallel call, so "
        lead += "every n_jobs value ran the same serial code and the differences are noise."
    else:
        lead = "the statement made no joblib parallel call, so no n_jobs can change it."
    serial = [c for c in observed if c.workers <= 1]
    threads = _most(c.runnable_threads for c in serial)
    cores = _most(c.cores_used for c in serial)
    yield finding(
        no_parallel_call,
        f"{lead} {_serial_threads(threads, cores, context.usable)}",
        reason,
        parallel_calls=0,
        runnable_threads=threads,
        cores_used=cores,
    )


def _most(values) -> float:
    """The largest of ``values`` that is a number (NaN when none is)."""
    return max((v for v in values if not math.isnan(v)), default=math.nan)


def _serial_threads(threads: float, cores: float, usable: int | None) -> str:
    """What the serial run ran at once, as counted (else as its CPU time says): a count of
    threads waiting for a core does not fall when the machine is loaded, CPU time does."""
    counted = not math.isnan(threads)
    if not (threads if counted else cores) >= THREADED:
        if counted:
            return (
                f"Its serial run ran one thread at a time ({threads:.1f} on average), so it "
                "used one core; n_jobs cannot change that."
            )
        return "Only code that runs through joblib (n_jobs in scikit-learn) can use more cores."
    busy = ""
    if not math.isnan(cores):
        busy = f"all {usable} usable cores" if usable and cores > usable else f"{cores:.1f} cores"
    ran = (
        f"ran {threads:.1f} threads at once on average" + (f" and kept {busy} busy" if busy else "")
        if counted
        else f"kept {busy} busy on average"
    )
    return (
        f"Its serial run already {ran}: threads of its own (OpenMP or BLAS inside the "
        "library) parallelise it without joblib, and n_jobs cannot add to that."
    )


def ran_sequentially(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """Every parallel value ran its joblib calls with one worker."""
    observed = observed_points(configs)
    if not observed or all(c.parallel_calls == 0 for c in observed):
        return
    parallel = [c for c in observed if c.workers > 1]
    ignored = [c for c in parallel if c.parallel_calls and set(c.effective_n_jobs) == {1}]
    if not parallel or len(ignored) != len(parallel):
        return
    values = ", ".join(c.name for c in ignored)
    text = f"at {values} joblib ran the statement's parallel calls sequentially"
    if any(c.ran_threads for c in ignored):
        text += (
            ": the code asks joblib for threads (as RandomForest's fit does) and "
            "leaves n_jobs unset, and joblib then uses one thread whatever "
            "parallel_config says. To make it parallel, pass n_jobs to the estimator "
            "in the statement, e.g. RandomForestClassifier(n_jobs=-1), which "
            "%parcompare rewrites to each value, or choose the threading backend with "
            "joblib.parallel_config(backend='threading')."
        )
    else:
        text += ": n_jobs did not reach them (an n_jobs fixed elsewhere wins)."
    yield finding(
        ran_sequentially,
        text,
        "joblib ran the statement's parallel calls with one worker",
        effective_n_jobs=[list(c.effective_n_jobs) for c in ignored],
    )


def same_n_jobs_everywhere(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """joblib ran the calls with the same n_jobs at every value: n_jobs never reached them
    (all-sequential runs and objects built before the statement are said by their own
    checks)."""
    observed = [c for c in observed_points(configs) if c.parallel_calls]
    seen = {tuple(c.effective_n_jobs) for c in observed}
    if len(observed) < 2 or len(seen) != 1 or context.preset:
        return
    (ran,) = seen
    if set(ran) == {1}:
        return
    shown = ", ".join(map(str, ran))
    yield finding(
        same_n_jobs_everywhere,
        f"at every n_jobs value joblib ran the statement's parallel calls with n_jobs={shown}: "
        "n_jobs never reached them (a value fixed inside the library, or set on an object "
        "or a dict of parameters built before the statement), so the values ran the same "
        "code.",
        f"joblib ran the statement's parallel calls with n_jobs={shown} at every value",
        effective_n_jobs=list(ran),
    )


def baseline_ran_in_parallel(config: ConfigTiming, context: Context) -> Finding | None:
    """The baseline asked for one worker, yet joblib ran more: its speedups compare against a
    parallel run."""
    ran = max(config.effective_n_jobs, default=1)
    if config.workers > 1 or not config.parallel_calls or ran <= 1:
        return None
    if context.preset:
        named = ", ".join(f"{name} has n_jobs={value}" for name, value in context.preset.items())
        why = f"an n_jobs set before the statement wins over the value asked ({named})"
    elif config.ran_threads and not config.ran_processes:
        why = "the library runs joblib's threading backend with a thread count of its own"
    else:
        why = "an n_jobs set elsewhere (inside the library, or on an object) wins"
    return finding(
        baseline_ran_in_parallel,
        f"at {config.name} joblib ran the statement's parallel calls with up to {ran} "
        f"workers: {why}, so this baseline is not a serial run.",
        asked=config.n_jobs,
        effective_n_jobs=list(config.effective_n_jobs),
    )


def pool_changed(config: ConfigTiming, context: Context) -> Finding | None:
    # A backend that starts its workers in every call changes them by design.
    if (
        not parallel_point(config)
        or not config.pool_changed
        or traits(config.backend).pool_per_call
    ):
        return None
    return finding(
        pool_changed,
        f"the worker processes changed during the timed runs at {config.name} "
        "(a worker exited: idle timeout, memory limit or crash), so some runs paid "
        "for starting workers again.",
    )


def nested_workers(config: ConfigTiming, context: Context) -> Finding | None:
    """Workers that ran parallel work of their own: joblib calls made inside them with more
    than one worker (recorded in each worker), or more processes or threads doing work than
    workers asked for."""
    if not parallel_point(config):
        return None
    inner = max(config.worker_effective_n_jobs, default=1)
    if inner > 1:
        backends = config.worker_backend_used or "joblib"
        return finding(
            nested_workers,
            f"nested parallelism: at {config.name} the {config.workers} workers made joblib "
            f"calls of their own with n_jobs={inner} ({backends}), so up to "
            f"{config.workers * inner} processes or threads worked at once for "
            f"{config.workers} requested workers. Set n_jobs on one level only.",
            workers=config.workers,
            inner_n_jobs=inner,
            worker_backends=backends,
        )
    if not more_workers_than_asked(config):
        return None
    return finding(
        nested_workers,
        f"nested parallelism: at {config.name}, {config.workers_used} processes or "
        f"threads did work for {config.workers} requested workers, more than the "
        f"{config.workers} cores asked for. Set n_jobs on one level only.",
        workers_used=config.workers_used,
        workers=config.workers,
    )


def _nested(config: ConfigTiming) -> bool:
    inner = max(config.worker_effective_n_jobs, default=1)
    return parallel_point(config) and (inner > 1 or more_workers_than_asked(config))


def more_workers_than_asked(config: ConfigTiming) -> bool:
    return config.workers_used is not None and config.workers_used > config.workers


def nested_n_jobs(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """n_jobs set on a call inside another call that sets it (unless already seen)."""
    if context.nested_n_jobs and not any(_nested(c) for c in configs):
        yield finding(
            nested_n_jobs,
            "nested parallelism: the statement sets n_jobs on a call inside another call "
            "that sets it, so each value k can run up to k x k workers at once (each "
            "rewritten to k). Set n_jobs on one level only.",
        )


# -- backends --------------------------------------------------------------------------------
def pool_per_call(config: ConfigTiming, context: Context) -> Finding | None:
    """A process backend that starts its pool in every call pays that in warm calls too."""
    runner = traits(config.backend)
    if not (runner.pool_per_call and not runner.uses_threads) or config.workers <= 1:
        return None
    if not config.timings:
        return None
    return finding(
        pool_per_call,
        f"the {config.backend} backend starts a new pool of worker processes on every "
        f"call, so at {config.name} the warm calls ({format_time(config.median)}) pay that "
        f"start-up as well, not only the first call ({format_time(config.first_call)}).",
        warm=config.median,
        first_call=config.first_call,
    )


# -- results ---------------------------------------------------------------------------------
def different_result(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    if context.differing:
        yield finding(
            different_result,
            f"the statement returned a different result at {', '.join(context.differing)} "
            f"than at {context.baseline_name}. Usually something random is not seeded (set "
            "random_state=0), so results change from run to run; otherwise the parallel "
            "code does not compute the same thing.",
            differing=list(context.differing),
        )


def results_not_checked(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """Parts of the results that could not be compared: said as such, never as different."""
    if context.differing or not context.not_checked:
        return
    parts = context.not_checked
    shown = ", ".join(parts[:MAX_PARTS_SHOWN]) + (", ..." if len(parts) > MAX_PARTS_SHOWN else "")
    yield finding(
        results_not_checked,
        f"some parts of the results could not be compared (not checked: {shown}), so the "
        "same-result check says nothing about them: functions, figures, random seeds and an "
        "object the statement changes in place are not compared.",
        not_checked=list(parts),
    )
