"""Results of a ``%parcompare`` sweep: frozen data, statistics derived from it, and export.

Nothing here measures anything or knows about IPython; a result can be built from synthetic
timings, which is how the tests check the statistics and the report.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ._options import CLUSTER_BACKENDS, SERIAL

__all__ = ["ConfigTiming", "ParCompareResult", "format_time"]

# Runs whose interquartile range reaches this share of the median are called unstable.
UNSTABLE_SPREAD = 0.10
# As %timeit: warn when the slowest run took this many times longer than the fastest.
SLOWEST_FASTEST_RATIO = 4.0
_BOOTSTRAP_RESAMPLES = 2000
_BOOTSTRAP_SEED = 20261124


def format_time(seconds: float, precision: int = 3) -> str:
    """Format a duration with a unit, to ``precision`` significant digits (as %timeit)."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds >= 60.0:
        minutes, rest = divmod(seconds, 60.0)
        return f"{int(minutes)} min {rest:.{max(precision - 2, 0)}f} s"
    units = ("s", "ms", "µs", "ns")
    order = min(-(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0 else 3
    return f"{seconds * 1000**order:.{precision}g} {units[order]}"


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default method) of sorted values."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """Median of the values (NaN when there are none)."""
    return _quantile(sorted(values), 0.5)


# Backend names that need no qualifier next to n_jobs: joblib's default, and the serial
# baseline shared by several backends.
_PLAIN_BACKENDS = ("", "loky", SERIAL)


def point_name(backend: str, n_jobs: int | str, workers: int) -> str:
    """How a point is named in sentences and charts: ``n_jobs=2``, ``n_jobs=2 (threading)``,
    ``dask with 2 workers`` (for clusters the size is the number of workers)."""
    if backend in CLUSTER_BACKENDS:
        return f"{backend} with {workers} worker{'s' if workers != 1 else ''}"
    if backend in _PLAIN_BACKENDS:
        return f"n_jobs={n_jobs}"
    return f"n_jobs={n_jobs} ({backend})"


@dataclass(frozen=True)
class ConfigTiming:
    """Timings of the statement at one point: a backend and n_jobs (for dask and ipyparallel,
    the number of cluster workers).

    ``backend`` is the joblib backend the point ran under (``"sequential"`` for the serial
    baseline shared by several backends); ``backend_used`` is what the timed runs were seen
    to use. ``cluster_startup`` is how long the cluster took to start its workers for this
    point (NaN for local backends); like the first call, it is never part of warm figures.

    ``all_runs`` holds the total time of each timed run of ``loops`` loops, as in IPython's
    ``TimeitResult``; the statistics are per loop. ``first_call`` is one call on a freshly
    started worker pool and is never part of the warm statistics. ``paired_baseline`` holds
    the per-loop times of the baseline runs interleaved with this config's runs (empty when
    the runs were not interleaved); ``speedup`` is computed from them.
    """

    n_jobs: int
    workers: int
    first_call: float
    loops: int
    all_runs: tuple[float, ...]
    warmup_calls: tuple[float, ...] = ()
    warm_settled: bool = True
    paired_baseline: tuple[float, ...] = ()
    speedup: float = math.nan
    speedup_ci: tuple[float, float] = (math.nan, math.nan)
    efficiency: float = math.nan
    backend: str = ""
    cluster_startup: float = math.nan
    # What really ran during the timed runs (empty/None when it was not observed).
    backend_used: str = ""
    workers_used: int | None = None
    parallel_calls: int | None = None
    cpu_time: float = math.nan
    effective_n_jobs: tuple[int, ...] = ()
    nested_calls: int = 0
    pool_changed: bool = False
    # Memory over the timed runs (NaN when not sampled), in bytes, by ``memory_method``.
    peak_memory: float = math.nan
    memory_increase: float = math.nan
    memory_method: str = ""
    memory_per_worker: float = math.nan
    idle_worker_memory: float = math.nan
    rss_total: float = math.nan
    # BLAS/OpenMP threads: per pool in the kernel and in a worker, and how many could run at
    # once (workers x inner threads x nested n_jobs); None when not observed.
    thread_pools: dict[str, list] = field(default_factory=dict)
    kernel_threads: int | None = None
    worker_threads: int | None = None
    total_threads: int | None = None

    @property
    def cpu_utilisation(self) -> float:
        """CPU time of the kernel and its workers over wall time x workers (1.0 = all busy)."""
        wall = math.fsum(self.all_runs)
        return self.cpu_time / (wall * self.workers) if wall > 0 else math.nan

    @property
    def repeat(self) -> int:
        """Number of timed runs."""
        return len(self.all_runs)

    @property
    def timings(self) -> tuple[float, ...]:
        """Seconds per loop of each timed run."""
        return tuple(run / self.loops for run in self.all_runs)

    # Statistics are NaN when a sweep was interrupted before any timed run of this value.
    @property
    def best(self) -> float:
        return min(self.timings, default=math.nan)

    @property
    def worst(self) -> float:
        return max(self.timings, default=math.nan)

    @property
    def average(self) -> float:
        return math.fsum(self.timings) / len(self.timings) if self.timings else math.nan

    @property
    def stdev(self) -> float:
        """Population standard deviation of the per-loop times, as ``TimeitResult.stdev``."""
        if not self.timings:
            return math.nan
        mean = self.average
        return math.sqrt(math.fsum((t - mean) ** 2 for t in self.timings) / len(self.timings))

    @property
    def median(self) -> float:
        return median(self.timings)

    @property
    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles of the per-loop times."""
        ordered = sorted(self.timings)
        return (_quantile(ordered, 0.25), _quantile(ordered, 0.75))

    @property
    def iqr(self) -> float:
        """Interquartile range of the per-loop times."""
        low, high = self.quartiles
        return high - low

    @property
    def startup_cost(self) -> float:
        """How much longer the first call took than a warm call (median)."""
        return self.first_call - self.median

    @property
    def on_cluster(self) -> bool:
        return self.backend in CLUSTER_BACKENDS

    @property
    def name(self) -> str:
        """How the point is named in sentences (see :func:`point_name`)."""
        return point_name(self.backend, self.n_jobs, self.workers)

    @property
    def label(self) -> str:
        """n_jobs as asked, with the effective worker count when they differ: ``-1 (2)``."""
        return (
            str(self.n_jobs) if self.n_jobs == self.workers else f"{self.n_jobs} ({self.workers})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Raw fields and derived statistics as plain Python values."""
        data = asdict(self)
        data["speedup_ci"] = list(self.speedup_ci)
        for name in ("all_runs", "warmup_calls", "paired_baseline", "effective_n_jobs"):
            data[name] = list(data[name])
        data.update(
            cpu_utilisation=self.cpu_utilisation,
            repeat=self.repeat,
            timings=list(self.timings),
            best=self.best,
            worst=self.worst,
            average=self.average,
            stdev=self.stdev,
            median=self.median,
            iqr=self.iqr,
        )
        return data


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


def with_speedups(configs: Sequence[ConfigTiming], baseline_index: int) -> list[ConfigTiming]:
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
        efficiency = speedup * base.workers / config.workers
        filled.append(replace(config, speedup=speedup, speedup_ci=ci, efficiency=efficiency))
    return filled


@dataclass(frozen=True, repr=False)
class ParCompareResult:
    """What ``%parcompare`` measured: one :class:`ConfigTiming` per n_jobs value (per backend
    and n_jobs value, when backends are compared).

    Attributes
    ----------
    statement, setup : str
        The timed code and the setup code, as given.
    configs : list of ConfigTiming
        In the order the n_jobs values were asked.
    baseline_n_jobs : int
        The n_jobs value speedups are relative to (1, or the one with the fewest workers).
    baseline_backend : str
        The baseline's backend (``"sequential"`` when several backends share it).
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
        text = "joblib.parallel_config(n_jobs=k) around the statement"
        if self.n_jobs_keywords_rewritten:
            count = self.n_jobs_keywords_rewritten
            text += (
                f", and {count} literal n_jobs= keyword{'s' if count > 1 else ''} in the "
                "statement rewritten to k"
            )
        return text

    @property
    def summary(self) -> str:
        """One plain sentence for a learner, computed from the measured numbers."""
        return _summary(self)

    @property
    def memory_sampled(self) -> bool:
        """Whether memory was sampled for at least one value."""
        return any(not math.isnan(c.peak_memory) for c in self.configs)

    @cached_property
    def scaling_by_backend(self) -> dict:
        """The fitted scaling model of each backend's line (None where it has fewer than two
        measured worker counts)."""
        from .insight import fit_scaling

        return {name: fit_scaling(line) for name, line in self.lines().items()}

    @property
    def scaling(self):
        """The fitted scaling model (:class:`~ipyparallel_ds.insight.Scaling`) of the
        recommended backend (the only one, unless backends are compared), or None with fewer
        than two measured worker counts."""
        models = self.scaling_by_backend
        if len(models) == 1:
            return next(iter(models.values()))
        chosen = self._parallel_choice()
        return models.get(chosen.backend) if chosen is not None else None

    @property
    def recommended(self) -> ConfigTiming | None:
        """The config of :attr:`recommended_n_jobs`."""
        from .insight import recommended_config

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
        from .insight import break_even_calls

        target = self._parallel_choice()
        return None if target is None else break_even_calls(target, self.baseline)

    def _parallel_choice(self) -> ConfigTiming | None:
        chosen = self.recommended
        if chosen is not None and chosen.workers > self.baseline.workers:
            return chosen
        others = [c for c in self.configs if c.timings and c.workers > self.baseline.workers]
        return min(others, key=lambda c: c.median) if others else None

    @property
    def verdict(self) -> str:
        """Two or three plain sentences for a learner, every one computed from the numbers."""
        return _verdict(self)

    # -- export --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything measured and derived, as JSON-compatible Python values."""
        return {
            "statement": self.statement,
            "setup": self.setup,
            "baseline_n_jobs": self.baseline_n_jobs,
            "baseline_backend": self.baseline_backend,
            "backends": self.backends,
            "clusters": [_finite(c) for c in self.clusters],
            "mechanism": self.mechanism,
            "n_jobs_keywords_rewritten": self.n_jobs_keywords_rewritten,
            "interleaved": self.interleaved,
            "interrupted": self.interrupted,
            "summary": self.summary,
            "verdict": self.verdict,
            "no_effect": self.no_effect,
            "results_equal": self.results_equal,
            "kernel_memory": None if math.isnan(self.kernel_memory) else self.kernel_memory,
            "inner_threads": self.inner_threads,
            "recommended_n_jobs": self.recommended_n_jobs,
            "recommended_backend": None if self.recommended is None else self.recommended.backend,
            "break_even_calls": self.break_even_calls,
            "scaling": None if self.scaling is None else self.scaling.to_dict(),
            "scaling_by_backend": {
                name: None if model is None else model.to_dict()
                for name, model in self.scaling_by_backend.items()
            },
            "warnings": list(self.warnings),
            "environment": self.environment,
            "precision": self.precision,
            "configs": [_finite(c.to_dict()) for c in self.configs],
        }

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The result as JSON text; also written to ``path`` when one is given."""
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParCompareResult:
        """Rebuild a result from :meth:`to_dict` output (e.g. ``parcompare --json``).

        Only measured fields are read; derived ones (summary, verdict, statistics) are
        computed again from them, so they match the original.
        """
        from dataclasses import fields

        def number(value: Any) -> Any:
            return math.nan if value is None else value

        config_fields = {f.name: f for f in fields(ConfigTiming)}
        configs = []
        for raw in data["configs"]:
            values = {k: v for k, v in raw.items() if k in config_fields}
            for name, value in values.items():
                if isinstance(value, list) and name != "thread_pools":
                    value = tuple(number(v) for v in value)
                elif config_fields[name].type in ("float", "float | None"):
                    value = number(value)
                values[name] = value
            configs.append(ConfigTiming(**values))
        result_fields = {f.name for f in fields(cls)} - {"configs"}
        values = {k: v for k, v in data.items() if k in result_fields}
        values["kernel_memory"] = number(values.get("kernel_memory"))
        return cls(configs=configs, **values)

    @classmethod
    def from_json(cls, source: str | Path) -> ParCompareResult:
        """Rebuild a result from JSON text, or from a file written by :meth:`to_json`."""
        text = source
        if isinstance(source, Path) or not str(source).lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    _CSV_COLUMNS = (
        "backend", "n_jobs", "workers", "cluster_startup", "first_call", "loops", "repeat",
        "median", "iqr", "best",
        "worst", "average", "stdev", "speedup", "speedup_ci_low", "speedup_ci_high",
        "efficiency",
    )  # fmt: skip

    def _rows(self) -> list[dict[str, Any]]:
        rows = []
        for c in self.configs:
            row = {name: getattr(c, name) for name in self._CSV_COLUMNS[:-3]}
            row.update(
                speedup_ci_low=c.speedup_ci[0],
                speedup_ci_high=c.speedup_ci[1],
                efficiency=c.efficiency,
            )
            rows.append(row)
        return rows

    def to_csv(self, path: str | Path) -> None:
        """Write one row per n_jobs value (seconds per loop) to ``path``."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self._rows())

    def to_frame(self):
        """One row per n_jobs value as a :class:`pandas.DataFrame` (needs pandas), indexed by
        n_jobs, or by backend and n_jobs when backends are compared."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_frame() needs pandas: pip install pandas") from exc
        index = ["backend", "n_jobs"] if len(self.backends) > 1 or self.clusters else "n_jobs"
        return pd.DataFrame(self._rows()).set_index(index)

    def save(self, path: str | Path) -> Path:
        """Save the chart (``.png``, ``.svg``, ``.pdf``) or the data (``.json``, ``.csv``).

        The format comes from the file extension; the chart is the default speedup view.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix in (".png", ".svg", ".pdf"):
            from .plot import render

            path.write_bytes(render(self, suffix[1:]))
        elif suffix == ".json":
            self.to_json(path)
        elif suffix == ".csv":
            self.to_csv(path)
        else:
            raise ValueError(
                f"cannot save as {path.name!r}: use a .png, .svg, .pdf, .json or .csv file name"
            )
        return path

    # -- display -------------------------------------------------------------------------
    def plot(self, metric: str = "speedup", ax=None, **options: Any):
        """Draw ``"time"``, ``"speedup"``, ``"efficiency"`` or ``"memory"`` against workers;
        returns the Axes.

        See :func:`ipyparallel_ds.plot.plot` for the options. Uses matplotlib's
        object-oriented API: nothing is shown until you display the figure.
        """
        from .plot import plot

        return plot(self, metric, ax, **options)

    def widget(self, metric: str = "speedup"):
        """An ipywidgets box with the chart and controls that redraw it from this result."""
        from .widget import make_widget

        return make_widget(self, metric)

    def table(self) -> str:
        """The text table of the report."""
        return _text_table(self)

    def text_chart(self, width: int = 40) -> str:
        """Speedup as a text bar chart, with ``|`` where ideal scaling (= workers) would be."""
        return _text_chart(self, width)

    def report(self) -> str:
        """Table, text chart, summary sentence and warnings, as ``%parcompare`` prints them."""
        parts = [self.table(), ""]
        if len(self.configs) > 1 and any(not math.isnan(c.speedup) for c in self.configs[1:]):
            parts += [self.text_chart(), ""]
        parts.append(self.verdict)
        parts += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        values = ",".join(c.label.split()[0] for c in self.configs)
        return f"<ParCompareResult n_jobs={values}: {self.verdict}>"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.report())

    def _repr_html_(self) -> str:
        return _html_table(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/plain": self.report(), "text/html": self._repr_html_()}


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """Replace NaN by None so that the JSON is standard."""

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {key: clean(value) for key, value in data.items()}


# -- report text --------------------------------------------------------------------------
_HEADERS = (
    "n_jobs",
    "workers",
    "ran on",
    "first call",
    "warm (median ± IQR)",
    "speedup",
    "efficiency",
)
_LEFT_ALIGNED = ("backend", "ran on", "speedup")


def _ran_on(config: ConfigTiming) -> str:
    """What really ran, in a few words (``-`` when it was not observed)."""
    if config.parallel_calls is None:
        return "-"
    if config.parallel_calls == 0:
        return "no joblib call"
    if config.backend_used.startswith("sequential"):
        return "1 (sequential)"
    if config.workers_used is None:  # a remote cluster's workers cannot be watched from here
        return config.backend_used
    return f"{config.workers_used} {config.backend_used}"


def _shows_backends(result: ParCompareResult) -> bool:
    return len(result.backends) > 1 or bool(result.clusters)


def _cells(result: ParCompareResult, config: ConfigTiming) -> tuple[str, ...]:
    p = result.precision
    if math.isnan(config.speedup):
        speedup = "-"
    elif config is result.baseline:
        speedup = "1.00×"
    else:
        low, high = config.speedup_ci
        speedup = f"{config.speedup:.2f}× [{low:.2f}, {high:.2f}]"
    cells = (
        str(config.n_jobs),
        str(config.workers),
        _ran_on(config),
        format_time(config.first_call, p),
        f"{format_time(config.median, p)} ± {format_time(config.iqr, p)}"
        if config.timings
        else "-",
        speedup,
        "-" if math.isnan(config.efficiency) else f"{config.efficiency * 100:.0f} %",
    )
    if _shows_backends(result):
        cells = (config.backend, *cells)
    if result.clusters:
        startup = format_time(config.cluster_startup, p)
        cells = (*cells[:-4], startup, *cells[-4:])
    return cells + ((_memory_cell(config),) if result.memory_sampled else ())


def _memory_cell(config: ConfigTiming) -> str:
    from ._memory import format_bytes

    if math.isnan(config.peak_memory):
        return "-"
    return f"{format_bytes(config.peak_memory)} (+{format_bytes(max(config.memory_increase, 0))})"


def _headers(result: ParCompareResult) -> tuple[str, ...]:
    headers = _HEADERS
    if _shows_backends(result):
        headers = ("backend", *headers)
    if result.clusters:
        headers = (*headers[:-4], "cluster start-up", *headers[-4:])
    if not result.memory_sampled:
        return headers
    method = next(c.memory_method for c in result.configs if c.memory_method)
    return (*headers, f"peak memory ({method.upper()})")


def _text_table(result: ParCompareResult) -> str:
    headers = _headers(result)
    rows = [headers] + [_cells(result, c) for c in result.configs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    left = {i for i, h in enumerate(headers) if h in _LEFT_ALIGNED}
    lines = []
    for row in rows:
        # Numbers right-aligned, words and the speedup column left-aligned so that its
        # interval lines up.
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _html_table(result: ParCompareResult) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _headers(result))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(result, c)) + "</tr>"
        for c in result.configs
    )
    notes = f"<p>{html.escape(result.verdict)}</p>"
    notes += "".join(f"<p><b>Warning:</b> {html.escape(w)}</p>" for w in result.warnings)
    return (
        f"<div><p><code>{html.escape(result.statement)}</code></p>"
        f'<table style="text-align:right"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{notes}</div>"
    )


def _text_chart(result: ParCompareResult, width: int) -> str:
    base_workers = result.baseline.workers
    rows = [(c, c.workers / base_workers) for c in result.configs if not math.isnan(c.speedup)]
    top = max(max(c.speedup, ideal) for c, ideal in rows)
    scale = width / top if top > 0 else 0.0
    label_width = max(len(_chart_label(c)) for c, _ in rows)
    lines = [f"{'speedup once warm':<{label_width}}  (| = ideal: speedup equal to workers)"]
    for config, ideal in rows:
        cells = [" "] * (width + 1)
        for i in range(min(round(config.speedup * scale), width)):
            cells[i] = "█"
        cells[min(round(ideal * scale), width)] = "|"
        label = _chart_label(config)
        lines.append(f"{label:<{label_width}}  {''.join(cells)}  {config.speedup:.2f}×")
    return "\n".join(lines)


def _chart_label(config: ConfigTiming) -> str:
    return point_name(config.backend, config.label, config.workers)


def _summary(result: ParCompareResult) -> str:
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


def stability_warnings(configs: Sequence[ConfigTiming]) -> list[str]:
    """Warnings, in the spirit of %timeit and pyperf, about runs too unsteady to trust."""
    warnings = []
    for c in configs:
        if c.repeat >= 3 and c.median > 0 and c.iqr >= UNSTABLE_SPREAD * c.median:
            warnings.append(
                f"the timed runs at {c.name} were unstable: their spread (IQR) is "
                f"{c.iqr / c.median * 100:.0f} % of the median. Something else may have been "
                "using the CPU; close other work or add runs with -r."
            )
        if c.best > 0 and c.worst > 1e-6 and c.worst > SLOWEST_FASTEST_RATIO * c.best:
            warnings.append(
                f"at {c.name} the slowest run took {c.worst / c.best:.1f} times longer "
                "than the fastest: the runs were not all alike (caching, or a pool restarted)."
            )
        if not c.warm_settled:
            warnings.append(
                f"at {c.name} the calls were still getting faster after "
                f"{len(c.warmup_calls)} warm-up calls, so the workers may not have been fully "
                "warm when timing began."
            )
    return warnings


def _shown_interval(config: ConfigTiming) -> tuple[float, float]:
    """The speedup interval as printed (two decimals), so that the words never contradict the
    numbers next to them: an interval shown as [0.97, 1.00] is not called "slower"."""
    low, high = config.speedup_ci
    return round(low, 2), round(high, 2)


def _verdict(result: ParCompareResult) -> str:
    """Speed, start-up and recommendation, each sentence computed from the measurement."""
    if len(result.configs) < 2:
        return result.summary
    if result.no_effect:
        return (
            f"n_jobs had no effect on this statement: {result.no_effect}, so the differences "
            "between the values are measurement noise; the warnings say how to change that."
        )
    base = result.baseline
    target = result._parallel_choice()
    if target is None or math.isnan(target.speedup):
        return result.summary
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
    if target.total_threads and target.total_threads > (
        result.environment.get("cores", {}).get("usable") or target.total_threads
    ):
        sentences.append(
            f"At {target.name} up to {target.total_threads} threads could run at once "
            "on fewer cores (oversubscription), which slows every one of them; see the warning."
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
            text += (
                ", though its advantage is within the noise of this measurement (more runs "
                "with -r would settle it)"
            )
        scaling = result.scaling
        # Only where the measurement shows a speedup the model explains: a slowdown is
        # overhead, which two points cannot tell apart from a serial fraction.
        credible = (
            scaling is not None
            and scaling.explains_data
            and _shown_interval(target)[0] > 1.0
            and scaling.serial_fraction >= 0.005
        )
        if credible:
            limit = scaling.max_speedup
            source = "two worker counts" if len(scaling.points) == 2 else "the fit"
            shown = f"{limit:.1f}" if limit < 10 else f"{limit:.0f}"
            text += (
                f"; the serial fraction measured from {source} ({scaling.serial_fraction:.2f}, "
                f"Amdahl's law) would limit any number of cores to {shown}×"
            )
        sentences.append(text + ".")
    return " ".join(sentences)


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
    from ._memory import format_bytes

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
    elif "threading" in config.backend_used:  # threads: nothing to start but the pool
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
            f"({config.efficiency * 100:.0f} % efficiency)."
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
