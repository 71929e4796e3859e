"""The report: the text table, the HTML table, the text chart, and all of them together as
``%parcompare`` prints them. The result is read through its public attributes only."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

from . import verdict as _verdict
from ._format import format_bytes, format_time
from ._points import point_name
from .size_words import size_table

if TYPE_CHECKING:
    from .result import ParCompareResult
    from .timing import ConfigTiming

__all__ = ["html_table", "mechanism", "report", "table", "text_chart"]

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


def mechanism(rewritten: int) -> str:
    """How each n_jobs value reached the statement, given the ``n_jobs=`` keywords rewritten."""
    text = "joblib.parallel_config(n_jobs=k) around the statement"
    if rewritten:
        s = "s" if rewritten > 1 else ""
        text += f", and {rewritten} literal n_jobs= keyword{s} in the statement rewritten to k"
    return text


def _ran_on(config: ConfigTiming) -> str:
    """What really ran, in a few words (``-`` when it was not observed)."""
    if config.parallel_calls is None:
        return "-"
    if config.parallel_calls == 0:
        return "no joblib call"
    if config.ran_sequentially:
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


def table(result: ParCompareResult) -> str:
    """The text table of the report."""
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


def html_table(result: ParCompareResult) -> str:
    """The table, the verdict and the warnings as HTML."""
    head = "".join(f"<th>{escape(h)}</th>" for h in _headers(result))
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in _cells(result, c)) + "</tr>"
        for c in result.configs
    )
    notes = f"<p>{escape(result.verdict)}</p>"
    notes += "".join(f"<p><b>Warning:</b> {escape(w)}</p>" for w in result.warnings)
    return (
        f"<div><p><code>{escape(result.statement)}</code></p>"
        f'<table style="text-align:right"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{notes}</div>"
    )


def text_chart(result: ParCompareResult, width: int = 40) -> str:
    """Speedup as a text bar chart, with ``|`` where ideal scaling (= workers) would be."""
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


def report(result: ParCompareResult) -> str:
    """Table, text chart, verdict and warnings, as ``%parcompare`` prints them."""
    parts = [table(result), ""]
    if len(result.configs) > 1 and any(not math.isnan(c.speedup) for c in result.configs[1:]):
        parts += [text_chart(result), ""]
    sizes = size_table(result)
    if sizes:
        parts += [sizes, ""]
    predicted = _verdict.prediction_line(result)
    if predicted:
        parts += [predicted, ""]
    parts.append(result.verdict)
    parts += [f"Warning: {w}" for w in result.warnings]
    return "\n".join(parts)
