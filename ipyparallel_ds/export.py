"""A result as data for other programs: a dict and JSON (and back), CSV, a pandas DataFrame, and
files by extension. The result is read through its public attributes only.

Rebuilding a result reads each field through the loader :data:`CONFIG_LOADERS` or
:data:`RESULT_LOADERS` names for it: JSON has no NaN (it is written as null) and no tuples.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .plot import render
from .timing import ConfigTiming, ParallelCall

if TYPE_CHECKING:
    from .result import ParCompareResult

__all__ = [
    "CONFIG_LOADERS",
    "CSV_COLUMNS",
    "RESULT_LOADERS",
    "fields_from_dict",
    "save",
    "to_csv",
    "to_dict",
    "to_frame",
    "to_json",
]


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """Replace NaN by None so that the JSON is standard."""

    def clean(value):
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {key: clean(v) for key, v in value.items()}
        return value

    return {key: clean(value) for key, value in data.items()}


def to_dict(result: ParCompareResult) -> dict[str, Any]:
    """Everything measured and derived, as JSON-compatible Python values."""
    scaling = result.scaling
    recommended = result.recommended
    return {
        "statement": result.statement,
        "setup": result.setup,
        "baseline_n_jobs": result.baseline_n_jobs,
        "baseline_backend": result.baseline_backend,
        "backends": result.backends,
        "clusters": [_finite(c) for c in result.clusters],
        "mechanism": result.mechanism,
        "n_jobs_keywords_rewritten": result.n_jobs_keywords_rewritten,
        "interleaved": result.interleaved,
        "interrupted": result.interrupted,
        "summary": result.summary,
        "verdict": result.verdict,
        "no_effect": result.no_effect,
        "results_equal": result.results_equal,
        "kernel_memory": None if math.isnan(result.kernel_memory) else result.kernel_memory,
        "inner_threads": result.inner_threads,
        "recommended_n_jobs": result.recommended_n_jobs,
        "recommended_backend": None if recommended is None else recommended.backend,
        "break_even_calls": result.break_even_calls,
        "scaling": None if scaling is None else scaling.to_dict(),
        "scaling_by_backend": {
            name: None if model is None else model.to_dict()
            for name, model in result.scaling_by_backend.items()
        },
        "tasks": [_finite(call.to_dict()) for call in result.tasks],
        "probes": result.probes,
        "predict_workers": list(result.predict_workers),
        "budget": result.budget,
        "sweep_seconds": None if math.isnan(result.sweep_seconds) else result.sweep_seconds,
        "budget_advice": _budget_advice(result),
        "predictions": [_finite(p.to_dict()) for p in result.predictions],
        "warnings": list(result.warnings),
        "environment": result.environment,
        "precision": result.precision,
        "configs": [_finite(c.to_dict()) for c in result.configs],
        "data_rows": result.data_rows,
        "data_names": list(result.data_names),
        "size_configs": [_finite(c.to_dict()) for c in result.size_configs],
        "break_even_rows": result.break_even_rows,
        "size_fits": [_finite(_size_fit(fit)) for fit in result.size_fits],
    }


def _size_fit(fit: Any) -> dict[str, Any]:
    fields = ("backend", "n_jobs", "name", "exponent", "coefficient", "rows", "time", "measured")
    values = {k: getattr(fit, k) for k in fields}
    return {**values, "fitted_rows": list(fit.fitted_rows), "interval": list(fit.interval),
            "error": fit.error}  # fmt: skip


def _budget_advice(result: ParCompareResult) -> dict[str, Any] | None:
    advice = result.budget_advice
    if advice is None:
        return None
    fields = {k: getattr(advice, k) for k in ("budget", "used", "stopped", "one_run")}
    return _finite(
        {
            **fields,
            "precision": advice.precision,
            "more_seconds": advice.more_seconds,
            "suggested": advice.suggested,
        }
    )


def to_json(result: ParCompareResult, path: str | Path | None = None, indent: int | None = 2):
    """The result as JSON text; also written to ``path`` when one is given."""
    text = json.dumps(to_dict(result), indent=indent, ensure_ascii=False)
    if path is not None:
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text


# -- loading ---------------------------------------------------------------------------------
def _number(value: Any) -> float:
    return math.nan if value is None else value


def _numbers(value: Any) -> tuple:
    return tuple(_number(v) for v in value)


def _as_is(value: Any) -> Any:
    return value


# One loader per field of ConfigTiming (a test checks that none is missing).
CONFIG_LOADERS: dict[str, Callable[[Any], Any]] = {
    "n_jobs": _as_is,
    "workers": _as_is,
    "first_call": _number,
    "loops": _as_is,
    "all_runs": _numbers,
    "warmup_calls": _numbers,
    "warm_settled": _as_is,
    "paired_baseline": _numbers,
    "stopped_by": _as_is,
    "rows": _as_is,
    "speedup": _number,
    "speedup_ci": _numbers,
    "session_ci": _numbers,
    "efficiency": _number,
    "backend": _as_is,
    "cluster_startup": _number,
    "backend_used": _as_is,
    "workers_used": _as_is,
    "parallel_calls": _as_is,
    "cpu_time": _number,
    "tasks": lambda calls: tuple(ParallelCall.from_dict(c) for c in calls or ()),
    "outside_calls": _number,
    "effective_n_jobs": _numbers,
    "nested_calls": _as_is,
    "worker_parallel_calls": _as_is,
    "worker_effective_n_jobs": _numbers,
    "worker_backend_used": _as_is,
    "pool_changed": _as_is,
    "peak_memory": _number,
    "memory_increase": _number,
    "memory_method": _as_is,
    "memory_per_worker": _number,
    "idle_worker_memory": _number,
    "rss_total": _number,
    "thread_pools": _as_is,
    "kernel_threads": _as_is,
    "worker_threads": _as_is,
    "total_threads": _as_is,
    "runnable_threads": _number,
    "peak_runnable_threads": _as_is,
    "kernel_runnable_threads": _number,
    "worker_runnable_threads": _as_is,
    "busy_worker_runnable_threads": _number,
    "oversubscribed_share": _number,
}
# One loader per stored field of the result but ``configs`` (derived ones are computed again).
RESULT_LOADERS: dict[str, Callable[[Any], Any]] = {
    "statement": _as_is,
    "setup": _as_is,
    "baseline_n_jobs": _as_is,
    "baseline_backend": _as_is,
    "n_jobs_keywords_rewritten": _as_is,
    "interleaved": _as_is,
    "interrupted": _as_is,
    "no_effect": _as_is,
    "results_equal": _as_is,
    "kernel_memory": _number,
    "inner_threads": _as_is,
    "environment": _as_is,
    "warnings": _as_is,
    "precision": _as_is,
    "clusters": _as_is,
    "probes": _as_is,
    "predict_workers": lambda counts: tuple(counts or ()),
    "budget": _as_is,
    "sweep_seconds": _number,
    "data_rows": _as_is,
    "data_names": lambda names: tuple(names or ()),
    "size_configs": lambda raws: [_config(raw) for raw in raws or ()],
}


def _config(raw: dict[str, Any]) -> ConfigTiming:
    return ConfigTiming(**{k: CONFIG_LOADERS[k](v) for k, v in raw.items() if k in CONFIG_LOADERS})


def fields_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a result rebuilt from :func:`to_dict` output: only measured
    fields are read, each through its loader."""
    configs = [_config(raw) for raw in data["configs"]]
    values = {k: RESULT_LOADERS[k](v) for k, v in data.items() if k in RESULT_LOADERS}
    values.setdefault("kernel_memory", math.nan)
    return {"configs": configs, **values}


def read_json(source: str | Path) -> dict[str, Any]:
    """JSON text, or the JSON of a file written by :func:`to_json`, as a dict."""
    text = source
    if isinstance(source, Path) or not str(source).lstrip().startswith("{"):
        text = Path(source).read_text(encoding="utf-8")
    return json.loads(text)


# -- tables and files ------------------------------------------------------------------------
CSV_COLUMNS = (
    "backend", "n_jobs", "workers", "cluster_startup", "first_call", "loops", "repeat",
    "median", "iqr", "best",
    "worst", "average", "stdev", "speedup", "speedup_ci_low", "speedup_ci_high",
    "efficiency",
)  # fmt: skip


def _rows(result: ParCompareResult) -> list[dict[str, Any]]:
    rows = []
    for c in result.configs:
        row = {name: getattr(c, name) for name in CSV_COLUMNS[:-3]}
        row.update(
            speedup_ci_low=c.speedup_ci[0],
            speedup_ci_high=c.speedup_ci[1],
            efficiency=c.efficiency,
        )
        rows.append(row)
    return rows


def to_csv(result: ParCompareResult, path: str | Path) -> None:
    """Write one row per point (seconds per loop) to ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(_rows(result))


def to_frame(result: ParCompareResult):
    """One row per point as a :class:`pandas.DataFrame` (needs pandas), indexed by n_jobs, or
    by backend and n_jobs when backends are compared."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_frame() needs pandas: pip install pandas") from exc
    several = len(result.backends) > 1 or result.clusters
    index = ["backend", "n_jobs"] if several else "n_jobs"
    return pd.DataFrame(_rows(result)).set_index(index)


def save(result: ParCompareResult, path: str | Path) -> Path:
    """Save the chart (``.png``, ``.svg``, ``.pdf``) or the data (``.json``, ``.csv``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".png", ".svg", ".pdf"):
        path.write_bytes(render(result, suffix[1:]))
    elif suffix == ".json":
        to_json(result, path)
    elif suffix == ".csv":
        to_csv(result, path)
    else:
        raise ValueError(
            f"cannot save as {path.name!r}: use a .png, .svg, .pdf, .json or .csv file name"
        )
    return path
