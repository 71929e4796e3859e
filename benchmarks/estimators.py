"""Which estimator and which interval a sweep should use: evidence from this machine's runs.

Several fresh Python processes (nothing of ipyparallel_ds is imported) each make the seed
call as a sweep would: one serial call, one n_jobs=2 call that starts the pool, then rounds of
one serial and one n_jobs=2 call in turn. Every call's seconds are kept.

From those runs this script asks, for a sweep that stopped after ``k`` rounds, which
estimator of the warm speedup lands nearest the other processes' median (the truth of
benchmark 2), and how often each 95 % interval contains it::

    cd benchmarks && ../.venv/bin/python estimators.py 8      # 8 processes, about 4 minutes
    cd benchmarks && ../.venv/bin/python estimators.py --again # analyse the saved runs again
    cd benchmarks && ../.venv/bin/python estimators.py --more 8 # add 8 processes to them

The standard deviation of the log speedup between processes is what
``ipyparallel_ds.stats.BETWEEN_SESSIONS_LOG_SD`` holds (a test checks that it is this file's);
intervals widened by it are scored with the figure from the other processes only.

The raw runs go to ``results/estimators.json``; "How the numbers are made" quotes the table.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

from _common import fresh_python, log

from ipyparallel_ds._options import TARGET_PRECISION
from ipyparallel_ds.demo import SEED_SETUP
from ipyparallel_ds.stats import between_sessions, speedup_interval

RESULTS = Path(__file__).resolve().parent / "results" / "estimators.json"
ROUNDS = 12
WINDOWS = (2, 3, 4, 5, 7)
OTHER_TARGETS = (0.10, 0.09, 0.07)  # the rule's precision, replayed at values it could have

RUNS = (
    SEED_SETUP
    + f"""
import json, time
from joblib import parallel_config

def timed(n_jobs):
    with parallel_config(n_jobs=n_jobs):
        t0 = time.perf_counter()
        cross_val_score(SVC(), X, y, cv=20)
        return time.perf_counter() - t0

calls = {{"serial_first": timed(1), "parallel_first": timed(2), "serial": [], "parallel": []}}
for _ in range({ROUNDS}):
    calls["serial"].append(timed(1))
    calls["parallel"].append(timed(2))
print(json.dumps(calls))
"""
)


def warm_speedup(process: dict) -> float:
    """A process's own figure, as benchmark 2 takes it: medians of its later rounds."""
    return statistics.median(process["serial"][2:]) / statistics.median(process["parallel"][2:])


def estimates(serial: list[float], parallel: list[float]) -> dict[str, float]:
    logs = [math.log(s / p) for s, p in zip(serial, parallel, strict=True)]
    return {
        "median / median": statistics.median(serial) / statistics.median(parallel),
        "geometric mean of paired ratios": math.exp(statistics.fmean(logs)),
        "median of paired ratios": statistics.median(
            s / p for s, p in zip(serial, parallel, strict=True)
        ),
        "min / min (best of k)": min(serial) / min(parallel),
    }


def bootstrap(serial: list[float], parallel: list[float]) -> tuple[float, float]:
    """The sweep's interval until issue 16: a percentile bootstrap of the median ratio,
    resampling pairs (2000 resamples, seeded)."""
    import numpy as np

    num, den = np.asarray(serial), np.asarray(parallel)
    index = np.random.default_rng(20261124).integers(0, len(num), size=(2000, len(num)))
    ratios = np.median(num[index], axis=1) / np.median(den[index], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def paired_t(serial: list[float], parallel: list[float]) -> tuple[float, float]:
    """A Student-t interval on the paired log-ratios (k - 1 degrees of freedom)."""
    from scipy.stats import t as student

    logs = [math.log(s / p) for s, p in zip(serial, parallel, strict=True)]
    half = student.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    centre = statistics.median(serial) / statistics.median(parallel)
    return centre * math.exp(-half), centre * math.exp(half)


def between_sd(figures: list[float]) -> tuple[float, int]:
    """The standard deviation of the log speedups between processes, and its degrees of
    freedom."""
    return statistics.stdev(math.log(f) for f in figures), len(figures) - 1


def intervals(
    serial: list[float], parallel: list[float], between: tuple[float, int]
) -> dict[str, tuple[float, float]]:
    session = speedup_interval(serial, parallel)
    point = statistics.median(serial) / statistics.median(parallel)
    return {
        "percentile bootstrap of the median ratio": bootstrap(serial, parallel),
        "t on the paired log-ratios": paired_t(serial, parallel),
        "t on the log times, pooled (session_ci)": session,
        "pooled, widened between sessions (speedup_ci)": between_sessions(point, session, *between),
    }


def analyse(processes: list[dict]) -> dict:
    """For each window of k rounds in each process (after the pool's first call, skipping
    ``skip`` warm-up rounds): each estimator's error against the other processes' median,
    and whether each interval contains it."""
    figures = [warm_speedup(p) for p in processes]
    table: dict = {}
    for skip in (0, 1):
        for k in WINDOWS:
            errors: dict[str, list[float]] = {}
            covered: dict[str, list[bool]] = {}
            widths: dict[str, list[float]] = {}
            for index, process in enumerate(processes):
                others = figures[:index] + figures[index + 1 :]
                truth = statistics.median(others)
                for start in range(skip, ROUNDS - k + 1, k):
                    s = process["serial"][start : start + k]
                    p = process["parallel"][start : start + k]
                    for name, value in estimates(s, p).items():
                        errors.setdefault(name, []).append(value / truth - 1)
                    for name, (low, high) in intervals(s, p, between_sd(others)).items():
                        covered.setdefault(name, []).append(low <= truth <= high)
                        widths.setdefault(name, []).append((high - low) / 2 / truth)
            table[f"skip {skip}, k={k}"] = {
                "estimators": {
                    n: {
                        "bias": statistics.median(e),
                        "median |error|": statistics.median(abs(x) for x in e),
                    }
                    for n, e in errors.items()
                },
                "intervals": {
                    n: {"coverage": sum(c) / len(c), "half-width": statistics.median(widths[n])}
                    for n, c in covered.items()
                },
                "windows": len(next(iter(covered.values()))),
            }
    second_call = [p["parallel"][0] / statistics.median(p["parallel"][2:]) - 1 for p in processes]
    return {
        "per_process_speedup": figures,
        "between_process_sd_of_log": between_sd(figures)[0],
        "between_process_df": between_sd(figures)[1],
        "second_parallel_call_against_warm_median": second_call,
        "windows": table,
        "stopping rule": stopping(processes),
        "stopping rule at other targets": [stopping(processes, t) for t in OTHER_TARGETS],
        "loop best of 5, sd within a process": loop_within(processes),
    }


def stopping(processes: list[dict], target: float = TARGET_PRECISION) -> dict:
    """The sweep's rule replayed on each process's runs from every start: the serial call
    before the window counts when the window's first serial run does not beat it by 10 %;
    stop at 2 to 5 rounds once the pooled t interval is within ±target. How many rounds it
    took, how often its interval contains the other processes' median, its error, and the
    spread of its figure within one process (the standard deviation of its log error against
    the process's own figure), which is what benchmark 1's spread compares."""
    figures = [warm_speedup(p) for p in processes]
    rounds, covered, widened, errors, within = [], [], [], [], []
    for index, process in enumerate(processes):
        others = figures[:index] + figures[index + 1 :]
        truth = statistics.median(others)
        for start in range(ROUNDS - 5 + 1):
            first = process["serial_first"] if start == 0 else process["serial"][start - 1]
            for k in range(2, 6):
                s = process["serial"][start : start + k]
                p = process["parallel"][start : start + k]
                reference = ([first] if s[0] >= 0.9 * first else []) + s
                low, high = speedup_interval(reference, p)
                if math.sqrt(high / low) - 1 <= target:
                    break
            rounds.append(k)
            covered.append(low <= truth <= high)
            point = statistics.median(reference) / statistics.median(p)
            wide_low, wide_high = between_sessions(point, (low, high), *between_sd(others))
            widened.append(wide_low <= truth <= wide_high)
            errors.append(abs(math.sqrt(low * high) / truth - 1))
            within.append(math.log(point / figures[index]))
    return {
        "target": target,
        "mean rounds": statistics.fmean(rounds),
        "stopped at 2 rounds": rounds.count(2) / len(rounds),
        "coverage": sum(covered) / len(covered),
        "coverage widened between sessions": sum(widened) / len(widened),
        "median |error|": statistics.median(errors),
        "sd within a process": statistics.stdev(within),
        "windows": len(rounds),
    }


def loop_within(processes: list[dict]) -> float:
    """The hand loop's best of 5 (min / min of 5 runs each), replayed from the same starts as
    :func:`stopping`: the sd of its log error against each process's own figure."""
    within = []
    for process in processes:
        own = warm_speedup(process)
        for start in range(ROUNDS - 5 + 1):
            best = min(process["serial"][start : start + 5])
            within.append(math.log(best / min(process["parallel"][start : start + 5]) / own))
    return statistics.stdev(within)


def report(summary: dict) -> None:
    speedups = ", ".join(f"{v:.3f}" for v in summary["per_process_speedup"])
    print("per-process warm speedups:", speedups)
    print(
        f"between-process sd of the log speedup: {summary['between_process_sd_of_log']:.4f} "
        f"({summary['between_process_df']} degrees of freedom)"
    )
    second = summary["second_parallel_call_against_warm_median"]
    print("pool's second call against its warm median:", ", ".join(f"{v:+.1%}" for v in second))
    for rule in [summary["stopping rule"], *summary["stopping rule at other targets"]]:
        print(
            f"the sweep's stopping rule at ±{rule['target']:.0%} ({rule['windows']} starts): "
            f"{rule['mean rounds']:.2f} rounds on average, {rule['stopped at 2 rounds']:.0%} "
            f"stopped at 2; coverage {rule['coverage']:.0%} (widened between sessions: "
            f"{rule['coverage widened between sessions']:.0%}); median |error| "
            f"{rule['median |error|']:.1%}; sd within a process {rule['sd within a process']:.2%}"
        )
    print(
        "the loop's best of 5, sd within a process: "
        f"{summary['loop best of 5, sd within a process']:.2%}"
    )
    for window, data in summary["windows"].items():
        print(f"\n{window} ({data['windows']} windows)")
        for name, e in data["estimators"].items():
            print(f"  {name:40s} bias {e['bias']:+.1%}  median |error| {e['median |error|']:.1%}")
        for name, i in data["intervals"].items():
            print(f"  {name:40s} coverage {i['coverage']:.0%}  half-width {i['half-width']:.1%}")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--again":
        processes = json.loads(RESULTS.read_text())["processes"]
    else:
        more = bool(argv) and argv[0] == "--more"
        count = int(argv[-1]) if argv and argv[-1] != "--more" else 8
        processes = json.loads(RESULTS.read_text())["processes"] if more else []
        for index in range(count):
            log(f"  process {index + 1} of {count}")
            processes.append(fresh_python(RUNS))
        RESULTS.write_text(json.dumps({"processes": processes}, indent=1) + "\n")
    report(analyse(processes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
