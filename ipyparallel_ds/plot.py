"""Charts of a :class:`~ipyparallel_ds.result.ParCompareResult`, with matplotlib's
object-oriented API only: no pyplot, no global state, nothing shown behind the caller's back.

The only module that imports matplotlib. A chart metric is one entry of :data:`METRICS`: its
axis label, how one backend's line is drawn, the reference drawn once, and where the
recommended point sits; or, for a view with another x axis (``size``), a whole-chart drawer.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .plot_sizes import draw_sizes
from .stats import efficiency

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .result import ParCompareResult
    from .timing import ConfigTiming

STATISTICS = ("median", "mean", "best")
_TITLE_WIDTH = 60


def _check(metric: str, statistic: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}; got {statistic!r}")


def _stat(config: ConfigTiming, statistic: str) -> float:
    return {"median": config.median, "mean": config.average, "best": config.best}[statistic]


def _speedup(result: ParCompareResult, config: ConfigTiming, statistic: str) -> float:
    """Speedup by the chosen statistic; the median one is the result's own (paired) figure."""
    if statistic == "median":
        return config.speedup
    base = result.baseline
    if config is base:
        return 1.0
    import statistics as stats

    reference = config.paired_baseline or base.timings
    value = stats.fmean(reference) if statistic == "mean" else min(reference)
    return value / _stat(config, statistic)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return textwrap.shorten(line, _TITLE_WIDTH, placeholder=" …")


def _x_labels(configs: list[ConfigTiming]) -> dict[int, str]:
    """One tick per worker count, naming every n_jobs value that gave it."""
    labels: dict[int, list[str]] = {}
    for c in configs:
        names = labels.setdefault(c.workers, [])
        if c.label not in names:
            names.append(c.label)
    return {workers: ", ".join(names) for workers, names in labels.items()}


def _factor(metric: str, base_workers: int, workers: int) -> float:
    """What a speedup is multiplied by for the metric: efficiency is in percent."""
    return efficiency(100.0, base_workers, workers) if metric == "efficiency" else 1.0


@dataclass(frozen=True)
class _Line:
    """One backend's line, as a metric's drawing function receives it."""

    name: str
    configs: list  # the configs with warm timings, in worker order
    all_configs: list  # the line's configs, first calls of unfinished ones included
    colour: str
    prefix: str  # "loky, " when several backends share the chart
    several: bool


def _draw_time(ax: Axes, result: ParCompareResult, line: _Line, options: dict) -> None:
    statistic = options["statistic"]
    configs = line.configs
    ys = [_stat(c, statistic) for c in configs]
    errors = None
    if statistic == "median":
        errors = [
            [c.median - c.quartiles[0] for c in configs],
            [c.quartiles[1] - c.median for c in configs],
        ]
    ax.errorbar(
        [c.workers for c in configs], ys, yerr=errors, fmt="o-", capsize=4, color=line.colour,
        label=f"{line.prefix}warm ({statistic})",
    )  # fmt: skip
    if options["show_first_call"]:
        firsts = [
            c
            for c in line.all_configs
            if not math.isnan(c.first_call) and (c.backend == line.name or not line.several)
        ]
        ax.plot(
            [c.workers for c in firsts],
            [c.first_call for c in firsts],
            "x",
            markersize=9,
            color=line.colour,
            label=f"{line.prefix}first call (workers starting)",
        )


def _draw_ratio(metric: str) -> Callable[..., None]:
    """Speedup or efficiency of one line, with the 95 % interval for the median."""

    def draw(ax: Axes, result: ParCompareResult, line: _Line, options: dict) -> None:
        statistic = options["statistic"]
        base_workers = result.baseline.workers
        configs = line.configs
        factors = [_factor(metric, base_workers, c.workers) for c in configs]
        ys = [_speedup(result, c, statistic) * f for c, f in zip(configs, factors, strict=True)]
        errors = None
        if statistic == "median":
            bounds = [
                (c.speedup_ci[0] * f, c.speedup_ci[1] * f)
                for c, f in zip(configs, factors, strict=True)
            ]
            errors = [
                [max(y - low, 0.0) for y, (low, _) in zip(ys, bounds, strict=True)],
                [max(high - y, 0.0) for y, (_, high) in zip(ys, bounds, strict=True)],
            ]
        ax.errorbar(
            [c.workers for c in configs], ys, yerr=errors, fmt="o-", capsize=4,
            color=line.colour, label=f"{line.prefix}measured ({statistic})",
        )  # fmt: skip

    return draw


def _draw_memory(ax: Axes, result: ParCompareResult, line: _Line, options: dict) -> None:
    measured = [c for c in line.configs if not math.isnan(c.peak_memory)]
    if not measured:
        return
    method = measured[0].memory_method.upper()
    ax.plot(
        [c.workers for c in measured],
        [c.peak_memory / 1e6 for c in measured],
        "o-",
        color=line.colour,
        label=f"{line.name + ': ' if line.several else ''}kernel + workers, peak Σ {method}",
    )


def _no_reference(ax: Axes, result: ParCompareResult, xs: list[int]) -> None:
    pass


def _ideal_speedup(ax: Axes, result: ParCompareResult, xs: list[int]) -> None:
    base_workers = result.baseline.workers
    ax.plot(xs, [w / base_workers for w in xs], "--", color="grey", label="ideal")


def _ideal_efficiency(ax: Axes, result: ParCompareResult, xs: list[int]) -> None:
    ax.axhline(100.0, linestyle="--", color="grey", label="ideal (100 %)")


def _kernel_memory(ax: Axes, result: ParCompareResult, xs: list[int]) -> None:
    if not result.memory_sampled:
        ax.text(
            0.5, 0.5, "memory was not sampled (--memory)", ha="center", transform=ax.transAxes,
        )  # fmt: skip
    elif not math.isnan(result.kernel_memory):
        ax.axhline(result.kernel_memory / 1e6, linestyle="--", color="grey", label="kernel before")
    ax.set_ylim(bottom=0)


def _time_value(result: ParCompareResult, config: ConfigTiming, statistic: str) -> float:
    return _stat(config, statistic)


def _ratio_value(metric: str) -> Callable[..., float]:
    def value(result: ParCompareResult, config: ConfigTiming, statistic: str) -> float:
        factor = _factor(metric, result.baseline.workers, config.workers)
        return _speedup(result, config, statistic) * factor

    return value


def _memory_value(result: ParCompareResult, config: ConfigTiming, statistic: str) -> float | None:
    return None if math.isnan(config.peak_memory) else config.peak_memory / 1e6


@dataclass(frozen=True)
class Metric:
    """A chart view: the y-axis label, how a backend's line is drawn, the reference drawn
    once (ideal line, kernel memory), the y of a config's marker (None: no marker), which
    figure of a prediction is drawn (``"time"``, ``"speedup"`` or None), and whether a result
    has the data (``available``)."""

    label: str
    draw: Callable[[Axes, Any, _Line, dict], None]
    reference: Callable[[Axes, Any, list[int]], None]
    value: Callable[[Any, Any, str], float | None]
    predicted: str | None = None
    available: Callable[[Any], bool] = lambda result: True
    chart: Callable[[Axes, Any, dict], None] | None = None  # draws the whole view instead


METRICS: dict[str, Metric] = {
    "time": Metric("time per call (s)", _draw_time, _no_reference, _time_value, predicted="time"),
    "speedup": Metric(
        "speedup (×)",
        _draw_ratio("speedup"),
        _ideal_speedup,
        _ratio_value("speedup"),
        predicted="speedup",
    ),
    "efficiency": Metric(
        "efficiency (%)",
        _draw_ratio("efficiency"),
        _ideal_efficiency,
        _ratio_value("efficiency"),
    ),
    "memory": Metric(
        "peak memory (MB)",
        _draw_memory,
        _kernel_memory,
        _memory_value,
        available=lambda result: result.memory_sampled,
    ),
    "size": Metric(
        "speedup against data size (×)",
        lambda *args: None,
        lambda *args: None,
        lambda *args: None,
        available=lambda result: bool(result.size_configs),
        chart=draw_sizes,
    ),
}


def plot(
    result: ParCompareResult,
    metric: str = "speedup",
    ax: Axes | None = None,
    *,
    statistic: str = "median",
    log_scale: bool = False,
    show_first_call: bool = True,
    show_prediction: bool = True,
) -> Axes:
    """Draw time, speedup or efficiency against the effective worker count.

    Parameters
    ----------
    result : ParCompareResult
    metric : {"time", "speedup", "efficiency", "memory", "size"}
        ``time``: warm time per call with IQR error bars (median) and the first call as a
        separate marker; ``speedup``: with its 95 % interval (median) and the ideal line
        (speedup = workers); ``efficiency``: with 100 % as the reference; ``memory``: peak
        memory of the kernel and its workers, with the kernel's own as the reference;
        ``size`` (after a data-size sweep): speedup against rows (``plot_sizes``).
    ax : matplotlib Axes, optional
        Where to draw; a new ``Figure`` (not pyplot) is made when omitted.
    statistic : {"median", "mean", "best"}
        Which warm statistic the points use. Intervals are drawn for the median only.
    log_scale : bool
        Logarithmic y axis.
    show_first_call : bool
        Mark first-call times on the time view.
    show_prediction : bool
        On the time and speedup views, draw the prediction from the measured tasks (see
        ``result.predict``) at ``result.predict_workers`` (default: up to four times the
        usable cores) and, as a step line, the limit the tasks set. The recommended n_jobs is
        marked on every view.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check(metric, statistic)
    view = METRICS[metric]
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, 4.4), layout="constrained").add_subplot()
    options = {"statistic": statistic, "show_first_call": show_first_call}
    if view.chart is not None:
        if not view.available(result):
            raise ValueError(f"metric {metric!r} needs a data-size sweep (--data, --sizes)")
        view.chart(ax, result, {**options, "log_scale": log_scale})
        ax.set_title(_short(result.statement), fontsize=10, family="monospace")
        return ax
    lines = result.lines()
    several = len(lines) > 1
    colours = {name: f"C{i}" for i, name in enumerate(lines)}
    xs: set[int] = {result.baseline.workers}
    for name, configs in lines.items():
        warm = [c for c in configs if c.timings]
        xs.update(c.workers for c in warm)
        prefix = f"{name}, " if several else ""
        view.draw(ax, result, _Line(name, warm, configs, colours[name], prefix, several), options)
    predicted: list[int] = []
    if show_prediction and view.predicted:
        for name in lines:
            shown = _draw_prediction(
                ax, result, view.predicted, name, colours[name], name if several else ""
            )
            predicted += [p for p in shown if p not in predicted]
    view.reference(ax, result, sorted(xs | set(predicted)))
    _mark_recommended(ax, result, view, statistic)
    _label_axes(ax, result, view, log_scale, predicted)
    return ax


def _label_axes(
    ax: Axes, result: ParCompareResult, view: Metric, log_scale: bool, predicted: list[int]
) -> None:
    ticks = _x_labels(result.configs)
    for p in predicted:  # predicted counts are labelled where the axis has room
        if p not in ticks and (len(predicted) <= 12 or p % max(len(predicted) // 8, 1) == 0):
            ticks[p] = str(p)
    ax.set_xticks(sorted(ticks), [ticks[w] for w in sorted(ticks)])
    cores = result.environment.get("cores", {}).get("usable")
    caption = f"usable cores on this machine: {cores}" if cores else "usable cores: unknown"
    asked = "n_jobs asked, or cluster workers" if result.clusters else "n_jobs asked"
    ax.set_xlabel(f"workers ({asked})\n{caption}")
    ax.set_ylabel(view.label)
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(_short(result.statement), fontsize=10, family="monospace")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)


def _draw_prediction(
    ax: Axes, result: ParCompareResult, figure: str, backend: str, colour: str, name: str
) -> list[int]:
    """The predicted time or speedup of one backend's line, and the task limit as a step
    line; returns the worker counts drawn (none when the tasks were not measured)."""
    made = [result.predict(p, backend) for p in result.prediction_counts]
    made = [m for m in made if m is not None]
    if len(made) < 2:
        return []
    xs = [m.workers for m in made]
    serial = result.baseline.median
    if figure == "time":
        ys = [m.time for m in made]
        limits = [serial / m.limit for m in made]
    else:
        ys = [m.speedup for m in made]
        limits = [m.limit for m in made]
    suffix = f" ({name})" if name else ""
    ax.plot(xs, ys, "--", marker=".", color=colour, label=f"predicted from the tasks{suffix}")
    ax.plot(
        xs, limits, drawstyle="steps-post", color=colour, alpha=0.45, linewidth=1.2,
        label=f"limit of the tasks{suffix}",
    )  # fmt: skip
    return xs


def _mark_recommended(ax: Axes, result: ParCompareResult, view: Metric, statistic: str) -> None:
    chosen = result.recommended
    if chosen is None:
        return
    y = view.value(result, chosen, statistic)
    if y is None:  # nothing to mark on this view (memory not sampled there)
        return
    ax.plot(
        [chosen.workers],
        [y],
        marker="*",
        markersize=16,
        linestyle="none",
        color="tab:red",
        label=f"recommended: {chosen.name}",
    )


def save_axes(ax: Axes, fmt: str = "png") -> bytes:
    """The figure holding ``ax`` as ``png``, ``svg`` or ``pdf`` bytes."""
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format=fmt, dpi=100 if fmt == "png" else None)
    return buffer.getvalue()


def render(result: ParCompareResult, fmt: str = "png", **options) -> bytes:
    """The chart as image bytes (``png``, ``svg`` or ``pdf``); options as in :func:`plot`."""
    return save_axes(plot(result, **options), fmt)
