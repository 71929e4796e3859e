"""What every check shares: the finding it returns and the context it reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._events import Event
from ..timing import ConfigTiming

__all__ = [
    "Check",
    "Context",
    "Finding",
    "PointCheck",
    "finding",
    "observed_points",
    "parallel_point",
]


@dataclass(frozen=True)
class Finding:
    """One warning: which check made it, its sentence, and the numbers behind the sentence.
    ``no_effect`` is the reason n_jobs had no effect, when the finding shows one."""

    check: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)
    no_effect: str = ""


@dataclass(frozen=True)
class Context:
    """What the checks look at besides the measured configs.

    ``events`` come from the sweep, ``runner_events`` from the backends; ``preset`` maps
    objects built before the statement with n_jobs set to that value; ``differing`` names the
    points whose result was not the baseline's and ``not_checked`` the parts of the results
    that could not be compared; ``environ`` holds the user's thread variables.
    """

    usable: int | None = None
    events: tuple[Event, ...] = ()
    runner_events: tuple[Event, ...] = ()
    preset: Mapping[str, object] = field(default_factory=dict)
    setup_n_jobs_keywords: int = 0
    nested_n_jobs: bool = False
    inner_threads: int | None = None
    environ: Mapping[str, str] = field(default_factory=dict)
    differing: tuple[str, ...] = ()
    not_checked: tuple[str, ...] = ()  # parts of the results that could not be compared
    baseline_name: str = ""


Check = Callable[[Sequence[ConfigTiming], Context], Iterator[Finding]]
PointCheck = Callable[[ConfigTiming, Context], Finding | None]


def finding(check: Callable, text: str, no_effect: str = "", **numbers: Any) -> Finding:
    return Finding(check.__name__, text, numbers, no_effect)


def observed_points(configs: Sequence[ConfigTiming]) -> list[ConfigTiming]:
    return [c for c in configs if c.parallel_calls is not None and c.timings]


def parallel_point(config: ConfigTiming) -> bool:
    """A point whose timed runs were observed and that asked for several workers."""
    return config.parallel_calls is not None and bool(config.timings) and config.workers > 1
