"""Charts of a :class:`~ipyparallel_ds.result.ParCompareResult`, with matplotlib's
object-oriented API only: no pyplot, no global state, nothing shown behind the caller's back.

The only module that imports matplotlib.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .result import ConfigTiming, ParCompareResult

METRICS = ("time", "speedup", "efficiency", "memory")
STATISTICS = ("median", "mean", "best")
_Y_LABELS = {
    "time": "time per call (s)",
    "speedup": "speedup (×)",
    "efficiency": "efficiency (%)",
    "memory": "peak memory (MB)",
}
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


def plot(
    result: ParCompareResult,
    metric: str = "speedup",
    ax: Axes | None = None,
    *,
    statistic: str = "median",
    log_scale: bool = False,
    show_first_call: bool = True,
    show_fit: bool = True,
) -> Axes:
    """Draw time, speedup or efficiency against the effective worker count.

    Parameters
    ----------
    result : ParCompareResult
    metric : {"time", "speedup", "efficiency", "memory"}
        ``time``: warm time per call with IQR error bars (median) and the first call as a
        separate marker; ``speedup``: with its 95 % interval (median) and the ideal line
        (speedup = workers); ``efficiency``: with 100 % as the reference; ``memory``: peak
        memory of the kernel and its workers, with the kernel's own as the reference.
    ax : matplotlib Axes, optional
        Where to draw; a new ``Figure`` (not pyplot) is made when omitted.
    statistic : {"median", "mean", "best"}
        Which warm statistic the points use. Intervals are drawn for the median only.
    log_scale : bool
        Logarithmic y axis.
    show_first_call : bool
        Mark first-call times on the time view.
    show_fit : bool
        Draw the fitted scaling model (see ``result.scaling``) on the time and speedup views,
        extrapolated to twice the largest measured worker count, where it explains the data.
        The recommended n_jobs is marked on every view.

    Returns
    -------
    matplotlib.axes.Axes
    """
    _check(metric, statistic)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, 4.4), layout="constrained").add_subplot()
    base_workers = result.baseline.workers
    lines = result.lines()
    several = len(lines) > 1
    colours = {name: f"C{i}" for i, name in enumerate(lines)}
    all_xs: set[int] = {base_workers}
    for name, line in lines.items():
        configs = [c for c in line if c.timings]
        xs = [c.workers for c in configs]
        all_xs.update(xs)
        colour = colours[name]
        prefix = f"{name}, " if several else ""
        if metric == "memory":
            _draw_memory(ax, configs, colour, f"{name}: " if several else "")
        elif metric == "time":
            ys = [_stat(c, statistic) for c in configs]
            errors = None
            if statistic == "median":
                errors = [
                    [c.median - c.quartiles[0] for c in configs],
                    [c.quartiles[1] - c.median for c in configs],
                ]
            ax.errorbar(
                xs, ys, yerr=errors, fmt="o-", capsize=4, color=colour,
                label=f"{prefix}warm ({statistic})",
            )  # fmt: skip
            if show_first_call:
                firsts = [
                    c
                    for c in line
                    if not math.isnan(c.first_call) and (c.backend == name or not several)
                ]
                ax.plot(
                    [c.workers for c in firsts],
                    [c.first_call for c in firsts],
                    "x",
                    markersize=9,
                    color=colour,
                    label=f"{prefix}first call (workers starting)",
                )
        else:
            # efficiency = speedup scaled by baseline workers / workers, in percent
            factors = [
                100.0 * base_workers / c.workers if metric == "efficiency" else 1.0 for c in configs
            ]
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
                xs, ys, yerr=errors, fmt="o-", capsize=4, color=colour,
                label=f"{prefix}measured ({statistic})",
            )  # fmt: skip
    if metric == "memory":
        if not result.memory_sampled:
            ax.text(
                0.5, 0.5, "memory was not sampled (--memory)", ha="center",
                transform=ax.transAxes,
            )  # fmt: skip
        elif not math.isnan(result.kernel_memory):
            ax.axhline(
                result.kernel_memory / 1e6, linestyle="--", color="grey", label="kernel before"
            )
        ax.set_ylim(bottom=0)
    elif metric == "speedup":
        span = sorted(all_xs)
        ax.plot(span, [w / base_workers for w in span], "--", color="grey", label="ideal")
    elif metric == "efficiency":
        ax.axhline(100.0, linestyle="--", color="grey", label="ideal (100 %)")

    if show_fit and metric in ("time", "speedup"):
        for name, scaling in result.scaling_by_backend.items():
            _draw_fit(ax, result, metric, scaling, colours[name], name if several else "")
    _mark_recommended(ax, result, metric, statistic)

    ticks = _x_labels(result.configs)
    ax.set_xticks(sorted(ticks), [ticks[w] for w in sorted(ticks)])
    cores = result.environment.get("cores", {}).get("usable")
    caption = f"usable cores on this machine: {cores}" if cores else "usable cores: unknown"
    asked = "n_jobs asked, or cluster workers" if result.clusters else "n_jobs asked"
    ax.set_xlabel(f"workers ({asked})\n{caption}")
    ax.set_ylabel(_Y_LABELS[metric])
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(_short(result.statement), fontsize=10, family="monospace")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def _draw_memory(ax: Axes, configs: list[ConfigTiming], colour: str, prefix: str) -> None:
    measured = [c for c in configs if not math.isnan(c.peak_memory)]
    if not measured:
        return
    method = measured[0].memory_method.upper()
    ax.plot(
        [c.workers for c in measured],
        [c.peak_memory / 1e6 for c in measured],
        "o-",
        color=colour,
        label=f"{prefix}kernel + workers, peak Σ {method}",
    )


def _draw_fit(
    ax: Axes, result: ParCompareResult, metric: str, scaling, colour: str, name: str
) -> None:
    if scaling is None or not scaling.explains_data:
        return
    top = 2 * max(p for p, _ in scaling.points)
    steps = 60
    low = min(p for p, _ in scaling.points)
    ps = [low + (top - low) * i / steps for i in range(steps + 1)]
    base_workers = result.baseline.workers
    if metric == "time":
        ys = [scaling.time(p) for p in ps]
    else:  # speedup relative to the baseline, which may itself have several workers
        ys = [scaling.time(base_workers) / scaling.time(p) for p in ps]
    s = scaling.serial_fraction
    label = f"fitted{' ' + name if name else ''} (serial fraction {s:.2f})"
    ax.plot(ps, ys, ":", color=colour, label=label)


def _mark_recommended(ax: Axes, result: ParCompareResult, metric: str, statistic: str) -> None:
    chosen = result.recommended
    if chosen is None:
        return
    if metric == "memory":
        if math.isnan(chosen.peak_memory):
            return
        y = chosen.peak_memory / 1e6
    elif metric == "time":
        y = _stat(chosen, statistic)
    else:
        y = _speedup(result, chosen, statistic)
        if metric == "efficiency":
            y *= 100.0 * result.baseline.workers / chosen.workers
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
