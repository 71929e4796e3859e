"""Sentences for what happened during a sweep: one function per kind of event, looked up in
:data:`EVENTS`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .._events import (
    BackendFailed,
    Interrupted,
    MeasuredAtItsSize,
    OverMemoryLimit,
    SizesTooLarge,
    TasksCancelled,
    WorkerDied,
)
from .._format import format_bytes, plural
from ..timing import ConfigTiming
from ._base import Context, Finding, finding

_SIGNALS = {-9: "SIGKILL", -15: "SIGTERM", -11: "SIGSEGV", -6: "SIGABRT", -7: "SIGBUS"}


def over_memory_limit(event: OverMemoryLimit) -> Finding:
    return finding(
        over_memory_limit,
        f"{event.point} was skipped: its peak memory is estimated at "
        f"{format_bytes(event.estimate)} ({event.how}), above the --max-memory limit of "
        f"{format_bytes(event.limit)} ({event.where}).",
        estimate=event.estimate,
        limit=event.limit,
    )


def backend_failed(event: BackendFailed) -> Finding:
    if event.deadline:
        text = (
            f"{event.full_message}. A task that keeps killing its worker can make joblib wait "
            f"forever; the {event.backend} backend's remaining sizes were skipped."
        )
        return finding(backend_failed, text, backend=event.backend)
    detail = f"{event.error_type}: {event.message}" if event.message else event.error_type
    hint = ""
    if "pickl" in detail.lower() or "serializ" in detail.lower():
        hint = (
            " Process and cluster backends send the work to other processes, so what the "
            "statement uses must be picklable (define functions in a module, not a lambda)."
        )
    text = (
        f"the {event.backend} backend could not run the statement at {event.point} "
        f"({detail}); it is left out and the other backends were measured.{hint}"
    )
    return finding(backend_failed, text, backend=event.backend)


def interrupted(event: Interrupted) -> Finding:
    return finding(
        interrupted,
        f"interrupted while measuring {event.point} ({plural(event.runs_done, 'timed run')} "
        "done); the table shows what was measured until then.",
        runs_done=event.runs_done,
    )


def worker_died(event: WorkerDied) -> Finding:
    codes = event.exit_codes
    named = ", ".join(f"{_SIGNALS.get(c, 'exit code')} ({c})" for c in codes) or "unknown"
    text = f"a worker process was killed ({named})"
    if -9 in codes:
        text += ": a SIGKILL usually means the system ran out of memory and its out-of-memory "
        text += "killer stopped the worker; try fewer workers or a smaller --max-memory."
    else:
        text += "."
    return finding(
        worker_died,
        f"at {event.point} {text} The values measured before are kept.",
        exit_codes=codes,
    )


def measured_at_its_size(event: MeasuredAtItsSize) -> Finding:
    available = event.available
    return finding(
        measured_at_its_size,
        f"the {event.backend} cluster at {event.where} has {plural(available, event.unit)} "
        "and cannot be scaled from here, so it was "
        f"measured at that size only (asked: {', '.join(map(str, event.asked))}); use "
        "--cluster local to compare sizes.",
        available=available,
    )


def sizes_too_large(event: SizesTooLarge) -> Finding:
    available, too_big = event.available, event.too_big
    return finding(
        sizes_too_large,
        f"the ipyparallel cluster has {available} engine{'s' if available != 1 else ''}"
        f", so size{'s' if len(too_big) > 1 else ''} {', '.join(map(str, too_big))} "
        "could not be measured; start more engines (ipcluster engines) to try them.",
        available=available,
    )


def tasks_cancelled(event: TasksCancelled) -> Finding:
    count = event.count
    return finding(
        tasks_cancelled,
        f"after the interrupt, {count} outstanding task{'s' if count != 1 else ''} "
        f"{'were' if count != 1 else 'was'} cancelled on {event.where}.",
        cancelled=count,
    )


EVENTS: dict[type, Callable[[Any], Finding]] = {
    OverMemoryLimit: over_memory_limit,
    BackendFailed: backend_failed,
    Interrupted: interrupted,
    WorkerDied: worker_died,
    MeasuredAtItsSize: measured_at_its_size,
    SizesTooLarge: sizes_too_large,
    TasksCancelled: tasks_cancelled,
}


def sweep_events(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """What happened during the sweep, in the order it happened."""
    for event in context.events:
        yield EVENTS[type(event)](event)


def runner_events(configs: Sequence[ConfigTiming], context: Context) -> Iterator[Finding]:
    """What the cluster runners noticed (sizes left out, tasks cancelled)."""
    for event in context.runner_events:
        yield EVENTS[type(event)](event)
