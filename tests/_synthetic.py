"""Synthetic :class:`ParCompareResult` objects, built from fixed numbers without running
anything, and the golden files of their outputs that ``test_snapshots.py`` compares against.

Regenerate the golden files (only for an intended change of output) with::

    .venv/bin/python -m tests._synthetic

Every builder is deterministic: fixed timings, and an explicit ``environment`` so that nothing
depends on the machine the tests run on.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ipyparallel_ds.result import ConfigTiming, ParCompareResult, build_result
from ipyparallel_ds.timing import ParallelCall

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
METRICS = ("time", "speedup", "efficiency", "memory")
NaN = math.nan


def environment(cores: int) -> dict[str, Any]:
    """A fixed description of a machine with ``cores`` usable cores."""
    return {
        "python": "3.11.7",
        "platform": "Linux-test",
        "versions": {"scikit-learn": "1.9.0"},
        "cores": {"logical": cores, "physical": cores, "usable": cores},
        "threadpools": [],
    }


# -- builders ------------------------------------------------------------------------------
SERIAL_RUNS = (0.66, 0.64, 0.65, 0.67, 0.65)


def local_sweep() -> ParCompareResult:
    """One local loky sweep, n_jobs 1, 2, 4 and -1 (4 workers), with interleaved baseline
    runs and everything observed."""
    configs = [
        ConfigTiming(
            n_jobs=1,
            workers=1,
            first_call=0.71,
            loops=1,
            all_runs=SERIAL_RUNS,
            warmup_calls=(0.68, 0.66),
            backend_used="sequential (loky)",
            workers_used=1,
            parallel_calls=1,
            cpu_time=3.31,
            effective_n_jobs=(1,),
        ),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=2.4,
            loops=1,
            all_runs=(0.36, 0.37, 0.35, 0.36, 0.38),
            warmup_calls=(0.42, 0.38, 0.37),
            paired_baseline=(0.65, 0.66, 0.64, 0.67, 0.65),
            backend_used="loky",
            workers_used=2,
            parallel_calls=1,
            cpu_time=3.46,
            effective_n_jobs=(2,),
        ),
        ConfigTiming(
            n_jobs=4,
            workers=4,
            first_call=3.1,
            loops=2,
            all_runs=(0.46, 0.44, 0.48, 0.46, 0.45),
            warmup_calls=(0.3, 0.25, 0.24),
            paired_baseline=(0.66, 0.65, 0.65, 0.64, 0.66),
            backend_used="loky",
            workers_used=4,
            parallel_calls=1,
            cpu_time=4.62,
            effective_n_jobs=(4,),
        ),
        ConfigTiming(
            n_jobs=-1,
            workers=4,
            first_call=2.9,
            loops=2,
            all_runs=(0.46, 0.48, 0.46, 0.44, 0.47),
            warmup_calls=(0.27, 0.25, 0.24),
            paired_baseline=(0.65, 0.67, 0.66, 0.65, 0.64),
            backend_used="loky",
            workers_used=4,
            parallel_calls=1,
            cpu_time=4.58,
            effective_n_jobs=(4,),
        ),
    ]
    return build_result(
        "cross_val_score(SVC(), X, y, cv=20)",
        configs,
        0,
        setup="X, y = make_classification(n_samples=2000, random_state=0)",
        n_jobs_keywords=1,
        interleaved=True,
        results_equal=True,
        environment=environment(4),
    )


def backends_sweep() -> ParCompareResult:
    """loky, threading and a local dask cluster against one shared serial baseline."""
    configs = [
        ConfigTiming(
            n_jobs=1,
            workers=1,
            first_call=0.7,
            loops=1,
            all_runs=SERIAL_RUNS,
            warmup_calls=(0.67,),
            backend="sequential",
            backend_used="sequential (loky)",
            workers_used=1,
            parallel_calls=1,
            cpu_time=3.28,
            effective_n_jobs=(1,),
        ),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=2.3,
            loops=1,
            all_runs=(0.36, 0.35, 0.37, 0.35, 0.36),
            warmup_calls=(0.4, 0.36),
            paired_baseline=(0.65, 0.66, 0.64, 0.66, 0.65),
            backend="loky",
            backend_used="loky",
            workers_used=2,
            parallel_calls=1,
            cpu_time=3.5,
            effective_n_jobs=(2,),
        ),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=0.9,
            loops=1,
            all_runs=(0.52, 0.5, 0.51, 0.53, 0.51),
            warmup_calls=(0.55, 0.52),
            paired_baseline=(0.66, 0.65, 0.65, 0.67, 0.64),
            backend="threading",
            backend_used="threading",
            workers_used=2,
            parallel_calls=1,
            cpu_time=4.1,
            effective_n_jobs=(2,),
        ),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=1.9,
            loops=1,
            all_runs=(0.41, 0.4, 0.42, 0.4, 0.41),
            warmup_calls=(0.45, 0.41),
            backend="dask",
            cluster_startup=1.2,
            backend_used="dask",
            workers_used=None,  # a cluster's workers are not watched from the kernel
            parallel_calls=1,
            effective_n_jobs=(2,),
        ),
    ]
    return build_result(
        "cross_val_score(SVC(), X, y, cv=20)",
        configs,
        0,
        n_jobs_keywords=1,
        interleaved=True,
        results_equal=True,
        environment=environment(2),
        clusters=[
            {
                "backend": "dask",
                "kind": "local",
                "address": "tcp://127.0.0.1:1234",
                "startup": 0.8,
                "workers": 2,
            }
        ],
    )


def _memory_configs() -> list[ConfigTiming]:
    return [
        ConfigTiming(
            n_jobs=1,
            workers=1,
            first_call=0.74,
            loops=1,
            # unstable: IQR 0.12 s, 18 % of the 0.65 s median
            all_runs=(0.6, 0.72, 0.65, 0.8, 0.58),
            warmup_calls=(0.7, 0.66),
            backend_used="sequential (loky)",
            workers_used=1,
            parallel_calls=1,
            cpu_time=3.4,
            effective_n_jobs=(1,),
            peak_memory=160e6,
            memory_increase=10e6,
            memory_method="pss",
            rss_total=175e6,
            thread_pools={"kernel": [["openblas", 2]], "worker": []},
            kernel_threads=2,
            worker_threads=None,
            total_threads=2,
        ),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=2.6,
            loops=1,
            # the slowest run 4.7 times the fastest
            all_runs=(0.3, 0.31, 1.4, 0.32, 0.33),
            warmup_calls=(0.9, 0.6, 0.45),
            warm_settled=False,
            paired_baseline=(0.59, 0.63, 0.61, 0.75, 0.6),
            backend_used="loky",
            workers_used=2,
            parallel_calls=1,
            cpu_time=5.3,
            effective_n_jobs=(2,),
            peak_memory=430e6,
            memory_increase=280e6,
            memory_method="pss",
            memory_per_worker=130e6,
            idle_worker_memory=95e6,
            rss_total=520e6,
            thread_pools={"kernel": [["openblas", 2]], "worker": [["openblas", 2]]},
            kernel_threads=2,
            worker_threads=2,
            total_threads=4,
        ),
    ]


def _memory_result(configs: list[ConfigTiming], statement: str, no_effect: str):
    return build_result(
        statement,
        configs,
        0,
        setup="from sklearn.ensemble import RandomForestClassifier",
        n_jobs_keywords=1,
        interleaved=True,
        notes=["a note given by the sweep."],
        no_effect=no_effect,
        results_equal=False,
        kernel_memory=150e6,
        inner_threads=None,
        environment=environment(2),
    )


def memory_and_warnings_sweep() -> ParCompareResult:
    """n_jobs 1 and 2 with memory and threads sampled, unstable runs and a note."""
    return _memory_result(
        _memory_configs(), "RandomForestClassifier(n_jobs=-1).fit(X, y)", no_effect=""
    )


def no_effect_sweep() -> ParCompareResult:
    """The memory sweep's numbers for a statement that made no joblib parallel call."""
    configs = [
        replace(c, backend_used="none", parallel_calls=0, effective_n_jobs=())
        for c in _memory_configs()
    ]
    return _memory_result(
        configs,
        "sum(x * x for x in range(10**6))",
        no_effect="the statement made no joblib parallel call",
    )


def tasks_sweep() -> ParCompareResult:
    """cross_val_score(cv=5) at n_jobs 1 and 2 on two cores, with the five fits timed in the
    kernel and in the workers and memory per worker: the prediction, the task limit as a
    step, the granularity sentence and the one for a bigger machine."""
    serial_fits = (0.121, 0.118, 0.125, 0.119, 0.122)
    worker_fits = (0.131, 0.129, 0.136, 0.13, 0.133)
    configs = [
        ConfigTiming(
            n_jobs=1, workers=1, first_call=0.66, loops=1,
            all_runs=(0.611, 0.612, 0.609, 0.615, 0.61),
            backend_used="sequential (loky)", workers_used=1, parallel_calls=1, cpu_time=3.05,
            effective_n_jobs=(1,), runnable_threads=1.0, peak_memory=300e6,
            memory_increase=20e6, memory_method="pss",
            tasks=(ParallelCall("loky", 1, 5, serial_fits, 0.607, "kernel", 0.002),),
            outside_calls=0.004,
        ),
        ConfigTiming(
            n_jobs=2, workers=2, first_call=1.9, loops=1,
            all_runs=(0.421, 0.418, 0.425, 0.42, 0.419),
            paired_baseline=(0.612, 0.61, 0.611, 0.613, 0.609),
            backend_used="loky", workers_used=2, parallel_calls=1, cpu_time=3.4,
            effective_n_jobs=(2,), runnable_threads=2.0, peak_memory=520e6,
            memory_increase=240e6, memory_method="pss", memory_per_worker=110e6,
            tasks=(ParallelCall("loky", 2, 5, worker_fits, 0.415, "workers"),),
            outside_calls=0.005,
        ),
    ]  # fmt: skip
    return build_result(
        "cross_val_score(SVC(), X, y, cv=5)",
        configs,
        0,
        interleaved=True,
        results_equal=True,
        kernel_memory=280e6,
        environment=environment(2),
    )


BUILDERS: dict[str, Callable[[], ParCompareResult]] = {
    "local_sweep": local_sweep,
    "tasks_sweep": tasks_sweep,
    "backends_sweep": backends_sweep,
    "memory_and_warnings_sweep": memory_and_warnings_sweep,
    "no_effect_sweep": no_effect_sweep,
}


# -- outputs -------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A float rounded to 9 significant digits, JSON-safe (NaN as None)."""
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return value
    return float(f"{value:.9g}")


def _numbers(values: Any) -> list:
    return [_number(v) for v in values]


def _container(container: Any) -> dict[str, Any]:
    from matplotlib.container import ErrorbarContainer

    data: dict[str, Any] = {"type": type(container).__name__, "children": len(container)}
    if isinstance(container, ErrorbarContainer):
        line, caplines, barlinecols = container.lines
        data.update(
            has_xerr=container.has_xerr,
            has_yerr=container.has_yerr,
            xdata=_numbers(line.get_xdata()),
            ydata=_numbers(line.get_ydata()),
            caplines=len(caplines),
            bars=[
                [[_numbers(point) for point in segment] for segment in col.get_segments()]
                for col in barlinecols
            ],
        )
    return data


def axes_contents(result: ParCompareResult) -> dict[str, Any]:
    """What ``result.plot(metric)`` draws, for every metric, as JSON-safe plain values."""
    contents = {}
    for metric in METRICS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ax = result.plot(metric, show_prediction=True)
        legend = ax.get_legend()
        contents[metric] = {
            "lines": [
                {
                    "label": line.get_label(),
                    "xdata": _numbers(line.get_xdata()),
                    "ydata": _numbers(line.get_ydata()),
                    "linestyle": line.get_linestyle(),
                    "marker": line.get_marker(),
                }
                for line in ax.get_lines()
            ],
            "containers": [_container(c) for c in ax.containers],
            "texts": [t.get_text() for t in ax.texts],
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "title": ax.get_title(),
            "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
            "legend": [] if legend is None else [t.get_text() for t in legend.get_texts()],
            "yscale": ax.get_yscale(),
            # e.g. matplotlib's "No artists with labels found to put in legend."
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        }
    return contents


def outputs(result: ParCompareResult) -> dict[str, str]:
    """The golden file suffix -> its text, for one result."""
    return {
        "report.txt": result.report() + "\n",
        "html": result._repr_html_() + "\n",
        "json": result.to_json() + "\n",
        "axes.json": json.dumps(axes_contents(result), indent=2, ensure_ascii=False) + "\n",
    }


def write_snapshots(folder: str | Path = SNAPSHOTS) -> list[Path]:
    """Write every builder's golden files into ``folder``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, builder in BUILDERS.items():
        for suffix, text in outputs(builder()).items():
            path = folder / f"{name}.{suffix}"
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write_snapshots(sys.argv[1] if len(sys.argv) > 1 else SNAPSHOTS):
        print(path)
