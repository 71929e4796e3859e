"""The result of a sweep: :class:`ParCompareResult`, the user's handle on everything measured.

Frozen data and statistics derived from it; its methods are one-line delegates to the modules
that word it (verdict, report), export it and draw it. Nothing here measures anything or knows
about IPython; a result can be built from synthetic timings with :func:`build_result`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from . import _validate, checks, export
from . import data_size as _data_size
from . import plot as _plot
from . import precision as _precision
from . import prediction as _prediction
from . import report as _report
from . import verdict as _verdict
from . import widget as _widget
from ._format import format_time
from ._options import DEFAULT_PRECISION
from .backends import SERIAL
from .environment import usable_cores
from .prediction import Prediction, default_predict_workers
from .scaling import break_even_calls, fit_scaling, recommended_config
from .stats import with_speedups
from .timing import ConfigTiming, ParallelCall

__all__ = ["ConfigTiming", "ParCompareResult", "build_result", "format_time", "partial_result"]


@dataclass(frozen=True, repr=False)
class ParCompareResult:
    """What ``%parcompare`` measured: one :class:`ConfigTiming` per n_jobs value (per backend
    and n_jobs value, when backends are compared).

    Attributes
    ----------
    statement, setup : str
        The timed code and the setup code, as given.
    configs : list of ConfigTiming
        In the order the n_jobs values were asked (at the largest size of a data-size sweep).
    baseline_n_jobs, baseline_backend : int, str
        The value speedups are relative to (1, or the one with the fewest workers), and its
        backend (``"sequential"`` when several backends share it).
    n_jobs_keywords_rewritten : int
        How many literal ``n_jobs=`` keywords in the statement were rewritten to each value.
    interleaved : bool
        Whether baseline runs were interleaved with each config's runs.
    interrupted : bool
        True when the sweep stopped early (Ctrl-C, or a worker process was killed); ``configs``
        then holds what was measured and ``warnings`` says why.
    no_effect : str
        Why n_jobs had no effect on the statement, in words; empty when it had one.
    results_equal : bool or None
        Whether every n_jobs value returned the same result as the baseline (None: not
        checked).
    kernel_memory : float
        The kernel's own memory before the sweep, in bytes (NaN when memory was not sampled).
    inner_threads : int or None
        The BLAS/OpenMP threads fixed for workers and kernel (``--inner-threads``), if any.
    environment : dict
        Versions, core counts and BLAS/OpenMP thread pools of the machine.
    warnings : list of str
        Plain-language warnings about the measurement.
    precision : int
        Significant digits used when times are shown.
    clusters : list of dict
        The dask or ipyparallel clusters used: backend, kind (``"local"`` when started for
        the measurement, else ``"existing"``), address or profile, and ``startup``, the
        seconds it took to start or connect to (before any worker started).
    probes : dict
        Per joblib backend, what the machine's probe measured when no parallel value's tasks
        were (see :mod:`ipyparallel_ds._probe`): workers, slowdown, round_trip, solo.
    predict_workers : tuple of int
        The worker counts :attr:`predictions` covers (``--predict``; by default 1 to four
        times the usable cores).
    budget, sweep_seconds : float
        The ``--budget`` asked (None: none), and the seconds the sweep took.
    size_configs, data_rows, data_names : list of ConfigTiming, int, tuple of str
        A data-size sweep's configs at every size (``rows`` set), the arrays' rows, names.
    """

    statement: str
    configs: list[ConfigTiming]
    setup: str = "pass"
    baseline_n_jobs: int = 1
    baseline_backend: str = ""
    n_jobs_keywords_rewritten: int = 0
    interleaved: bool = False
    interrupted: bool = False
    no_effect: str = ""
    results_equal: bool | None = None
    kernel_memory: float = math.nan
    inner_threads: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    precision: int = 3
    clusters: list[dict[str, Any]] = field(default_factory=list)
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)
    predict_workers: tuple[int, ...] = ()
    budget: float | None = None
    sweep_seconds: float = math.nan
    size_configs: list[ConfigTiming] = field(default_factory=list)
    data_rows: int | None = None
    data_names: tuple[str, ...] = ()

    # -- derived -------------------------------------------------------------------------
    @property
    def baseline(self) -> ConfigTiming:
        """The config that speedups are relative to."""
        return next(
            c
            for c in self.configs
            if c.n_jobs == self.baseline_n_jobs
            and (c.backend == self.baseline_backend or not self.baseline_backend)
        )

    @property
    def backends(self) -> list[str]:
        """The backends compared, in the order measured (the serial baseline left out when
        several backends share it)."""
        names = []
        for c in self.configs:
            if c.backend not in names and c.backend != SERIAL:
                names.append(c.backend)
        return names

    def lines(self) -> dict[str, list[ConfigTiming]]:
        """Each backend's configs in worker order, starting from the shared serial baseline:
        one line of the chart per backend."""
        base = self.baseline
        lines: dict[str, list[ConfigTiming]] = {}
        for name in self.backends or [base.backend]:
            own = [c for c in self.configs if c.backend == name]
            if base.backend != name:
                own = [base, *own]
            lines[name] = sorted(own, key=lambda c: c.workers)
        return lines

    @property
    def mechanism(self) -> str:
        """How each n_jobs value reached the statement."""
        return _report.mechanism(self.n_jobs_keywords_rewritten)

    @property
    def summary(self) -> str:
        """One plain sentence for a learner, computed from the measured numbers."""
        return _verdict.summary(self)

    @property
    def memory_sampled(self) -> bool:
        """Whether memory was sampled for at least one value."""
        return any(not math.isnan(c.peak_memory) for c in self.configs)

    @cached_property
    def scaling_by_backend(self) -> dict:
        """The fitted scaling model of each backend's line (None where it has fewer than two
        measured worker counts)."""
        return {name: fit_scaling(line) for name, line in self.lines().items()}

    @property
    def scaling(self):
        """The fitted scaling model (:class:`~ipyparallel_ds.scaling.Scaling`) of the
        recommended backend (the only one, unless backends are compared), or None with fewer
        than two measured worker counts."""
        models = self.scaling_by_backend
        if len(models) == 1:
            return next(iter(models.values()))
        chosen = self.parallel_choice()
        return models.get(chosen.backend) if chosen is not None else None

    @property
    def recommended(self) -> ConfigTiming | None:
        """The config of :attr:`recommended_n_jobs`. When n_jobs had no effect (see
        :attr:`no_effect`) the differences are noise, so the baseline is recommended."""
        if self.no_effect and self.baseline.timings:
            return self.baseline
        return recommended_config(self.configs)

    @property
    def recommended_n_jobs(self) -> int | None:
        """The fewest workers within 5 % of the best speedup (with several
        backends, see :attr:`recommended` for the backend)."""
        config = self.recommended
        return None if config is None else config.n_jobs

    @property
    def break_even_calls(self) -> int | None:
        """Calls of the statement before the recommended (or else the fastest) parallel value
        pays back its first-call start-up cost; None means never (it saves nothing per call)."""
        target = self.parallel_choice()
        return None if target is None else break_even_calls(target, self.baseline)

    def parallel_choice(self) -> ConfigTiming | None:
        """The parallel config the verdict speaks of: the recommended one when it has more
        workers than the baseline, else the fastest one that has."""
        chosen = self.recommended
        if chosen is not None and chosen.workers > self.baseline.workers:
            return chosen
        others = [c for c in self.configs if c.timings and c.workers > self.baseline.workers]
        return min(others, key=lambda c: c.median) if others else None

    # -- the task structure and the prediction (see ipyparallel_ds.prediction) ---------------
    @property
    def tasks(self) -> tuple[ParallelCall, ...]:
        """The top-level joblib calls of one call of the statement in the serial run, each
        with its backend, task count and task durations (measured in the kernel)."""
        return self.baseline.tasks

    def predict(self, workers: int, backend: str | None = None) -> Prediction | None:
        """Predict one call of the statement with ``workers`` workers, on a machine with at
        least that many cores (see :mod:`ipyparallel_ds.prediction`); ``.time``, ``.speedup``
        and ``.limit``. None when the serial run's tasks were not measured.

        ``backend`` picks a backend's line when several were compared (default: the
        recommended one's)."""
        workers = _validate.parse_count("workers", workers, minimum=1)
        return _prediction.predict_result(self, workers, backend)

    @property
    def prediction_counts(self) -> tuple[int, ...]:
        """The worker counts predicted: :attr:`predict_workers`, or 1 to four times the
        usable cores."""
        usable = self.environment.get("cores", {}).get("usable", 1)
        return self.predict_workers or default_predict_workers(usable)

    @property
    def predictions(self) -> list[Prediction]:
        """:meth:`predict` at each of :attr:`predict_workers` (empty when it cannot predict)."""
        made = [self.predict(p) for p in self.prediction_counts]
        return [p for p in made if p is not None]

    @property
    def break_even_rows(self) -> int | None:
        """The smallest size measured at which parallel was faster (None: at none)."""
        return _data_size.break_even_rows(self.size_configs, self.baseline.workers)

    @property
    def size_fits(self) -> list[_data_size.SizeFit]:
        """Time against rows per value, fitted below the full size and predicted at it."""
        return _data_size.fit_sizes(self.size_configs, self.data_rows or 0)

    @property
    def budget_advice(self) -> _precision.BudgetAdvice | None:
        """With ``--budget``: the precision reached and what a larger budget would buy."""
        return _precision.budget_advice(
            self.configs, self.configs.index(self.baseline), self.budget, self.sweep_seconds
        )

    @property
    def verdict(self) -> str:
        """Two or three plain sentences for a learner, every one computed from the numbers."""
        return _verdict.verdict(self)

    # -- export (see ipyparallel_ds.export) -----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything measured and derived, as JSON-compatible Python values."""
        return export.to_dict(self)

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The result as JSON text; also written to ``path`` when one is given."""
        return export.to_json(self, path, indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParCompareResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. ``parcompare --json``); derived
        figures (summary, verdict, statistics) are computed again, so they match."""
        return cls(**export.fields_from_dict(data))

    @classmethod
    def from_json(cls, source: str | Path) -> ParCompareResult:
        """Rebuild a result from JSON text, or from a file written by :meth:`to_json`."""
        return cls.from_dict(export.read_json(source))

    def to_csv(self, path: str | Path) -> None:
        """Write one row per n_jobs value (seconds per loop) to ``path``."""
        export.to_csv(self, path)

    def to_frame(self):
        """One row per n_jobs value as a :class:`pandas.DataFrame` (needs pandas), indexed by
        n_jobs, or by backend and n_jobs when backends are compared."""
        return export.to_frame(self)

    def save(self, path: str | Path) -> Path:
        """Save the chart (``.png``, ``.svg``, ``.pdf``: the speedup view) or the data
        (``.json``, ``.csv``), by the file's extension."""
        return export.save(self, path)

    # -- display -------------------------------------------------------------------------
    def plot(self, metric: str = "speedup", ax=None, **options: Any):
        """Draw ``"time"``, ``"speedup"``, ``"efficiency"`` or ``"memory"`` against workers,
        or ``"size"`` (speedup against data size); returns the Axes. See
        :func:`ipyparallel_ds.plot.plot`; nothing is shown until you display the figure."""
        return _plot.plot(self, metric, ax, **options)

    def widget(self, metric: str = "speedup"):
        """An ipywidgets chart with controls that redraw it from this result."""
        return _widget.make_widget(self, metric)

    def table(self) -> str:
        """The text table of the report."""
        return _report.table(self)

    def text_chart(self, width: int = 40) -> str:
        """Speedup as a text bar chart, with ``|`` where ideal scaling (= workers) would be."""
        return _report.text_chart(self, width)

    def report(self) -> str:
        """Table, text chart, summary sentence and warnings, as ``%parcompare`` prints them."""
        return _report.report(self)

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        values = ",".join(c.label.split()[0] for c in self.configs)
        return f"<ParCompareResult n_jobs={values}: {self.verdict}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.report())

    def _repr_html_(self) -> str:
        return _report.html_table(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": self.report(), "text/html": self._repr_html_()}


def build_result(
    statement: str,
    configs: Sequence[ConfigTiming],
    baseline_index: int,
    *,
    setup: str = "pass",
    n_jobs_keywords: int = 0,
    interleaved: bool = False,
    interrupted: bool = False,
    notes: Sequence[str] = (),
    no_effect: str = "",
    results_equal: bool | None = None,
    kernel_memory: float = math.nan,
    inner_threads: int | None = None,
    environment: dict[str, Any] | None = None,
    precision: int = DEFAULT_PRECISION,
    clusters: Sequence[dict[str, Any]] = (),
    context: checks.Context | None = None,
    probes: dict[str, dict[str, Any]] | None = None,
    predict_workers: Sequence[int] = (),
    budget: float | None = None,
    sweep_seconds: float = math.nan,
) -> ParCompareResult:
    """Compute speedups and warnings for measured configs and wrap them in a result.

    With a ``context`` (what the sweep observed) every check of :mod:`ipyparallel_ds.checks`
    runs; without one, only those of the timings alone. ``notes`` are sentences put first;
    ``no_effect`` is added to what the checks find.
    """
    if environment is None:
        environment = {"cores": {"usable": usable_cores()}}
    filled = with_speedups(configs, baseline_index)
    usable = environment["cores"]["usable"]
    if context is None:
        findings = checks.run(filled, checks.Context(usable=usable), checks.TIMING_CHECKS)
    else:
        findings = checks.run(filled, replace(context, usable=usable))
    reasons = [no_effect] if no_effect else []
    reasons += [f.no_effect for f in findings if f.no_effect]
    return ParCompareResult(
        statement=statement,
        setup=setup,
        configs=filled,
        baseline_n_jobs=filled[baseline_index].n_jobs,
        baseline_backend=filled[baseline_index].backend,
        clusters=[dict(c) for c in clusters],
        n_jobs_keywords_rewritten=n_jobs_keywords,
        interleaved=interleaved,
        interrupted=interrupted,
        no_effect="; ".join(reasons),
        results_equal=results_equal,
        kernel_memory=kernel_memory,
        inner_threads=inner_threads,
        environment=environment,
        warnings=[*notes, *(f.text for f in findings)],
        precision=precision,
        probes=dict(probes or {}),
        predict_workers=tuple(predict_workers),
        budget=budget,
        sweep_seconds=sweep_seconds,
    )


def partial_result(statement: str, configs: Sequence[ConfigTiming]) -> ParCompareResult:
    """A result of the points measured so far (baseline first), for a progress chart."""
    return build_result(statement, configs, 0)
