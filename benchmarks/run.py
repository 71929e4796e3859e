"""Run every benchmark, print each figure next to its target, write JSON and the docs page.

    python benchmarks/run.py            # what `make bench` runs
    python benchmarks/run.py --quick    # fewer rounds, for trying the harness out

Figures that miss their target are printed as MISS, never hidden.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_cost
import memory
import overhead
import prediction
import sampler_cost
import time_to_answer
import truth
from _common import Figure, log

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DOCS = ROOT / "docs" / "performance.md"


def machine() -> dict:
    from joblib.externals.loky import cpu_count

    versions = {}
    for name in ("ipyparallel-ds", "ipython", "scikit-learn", "joblib", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": {"logical": os.cpu_count(), "usable": cpu_count()},
        "versions": versions,
    }


def markdown(info: dict, figures: list[Figure], seconds: float, table: list[str]) -> str:
    cores = info["cores"]
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    rows = "\n".join(
        "| {name} | {value} | {target} | {status} | {note} |".format(
            name=f.name,
            value="-" if f.value is None else f"{f.value:.3g} {f.unit}".strip(),
            target=f.target,
            status="not measured" if f.met is None else ("met" if f.met else "**missed**"),
            note=f.note,
        )
        for f in figures
    )
    return f"""# Performance

How fast `%parcompare` gives an answer a user can trust, and how close that answer is to an
independent measurement. Every figure is a ratio measured in one run of `make bench` on one
machine; the table below is written by `benchmarks/run.py` and is replaced on every run.

Measured {info["date"]} on {info["platform"]}, Python {info["python"]},
{cores["logical"]} logical cores ({cores["usable"]} usable); {versions}.
The whole run took {seconds / 60:.1f} minutes.

| figure | value | target | status | note |
| --- | --- | --- | --- | --- |
{rows}

## What each figure compares

1. **Time to answer, spread**: the seed statement (digits, `SVC()`, `cv=20`, n_jobs 1 and
   2). {time_to_answer.ROUNDS} default `%parcompare -j 1,2` runs and as many hand-written
   `for nj in (1, 2): %timeit -o -q -n1 -r5 ...` loops, interleaved in one IPython process.
   Wall-time ratio of the medians (target 0.8); coefficient of variation of the speedup each
   reports across the rounds, the loop's from its best of five (the estimator a careful user
   takes) and, in the note, from its means. Two spreads from {time_to_answer.ROUNDS} rounds
   each differ by chance too, so "no wider" is met unless a one-sided paired test
   (Pitman-Morgan, on the log speedups of the same rounds) finds %parcompare's wider at the
   5 % level. With {time_to_answer.ROUNDS} rounds that test catches a method 1.5 times as
   noisy (in its own, unshared part) about one time in three, so the replay of the stopping
   rule on 16 fresh processes in `benchmarks/estimators.py` ("How the numbers are made") is
   the closer comparison.
2. **Accuracy and coverage**: the median of those `%parcompare` speedups against the
   median over five fresh Python processes timing the same call with `time.perf_counter`
   (pool warmed, 15 runs per n_jobs, one of each in turn, medians); and how many of the
   95 % intervals contain that median (met when a true 95 % coverage would give at least
   that many with a probability of 5 % or more: at most 3 misses in 20). Which estimator
   and interval the sweep uses, and why, is measured by `benchmarks/estimators.py` (16
   fresh processes, not part of `make bench`; "How the numbers are made" quotes it).
3. **First-call truth**: the median first call `%parcompare` reported at n_jobs=2 against
   the median, over three fresh processes, of the first n_jobs=2 call after one serial call.
4. **Load cost**: `%load_ext` in a fresh IPython, median of ten, against ipython-autotime,
   line_profiler and memory_profiler (installed in the benchmark environment only), with
   bytecode caches written by one unmeasured load first, as a user's Python keeps them.
5. **Harness overhead**: `%parcompare -j 1` against `%timeit` per-loop medians on
   `sum(range(1000))`, five interleaved rounds.
6. **Memory accounting**: `%parcompare --memory -j 1,2` on a statement over a 200 MB array
   (memory-mapped to the workers) against a separate process sampling the kernel's process
   tree every 10 ms (Σ PSS, and Σ RSS to show how much summing RSS over-counts).
7. **Prediction**: for each workload below, a fresh process runs `%parcompare`'s API with
   `n_jobs=[1]` (on a machine with four cores or more, `[1, 2]`) and takes
   `result.predict(p)`; another fresh process, with nothing of ipyparallel_ds, times the
   statement with `time.perf_counter` at n_jobs=1 and at each predicted `p` (pools warmed,
   nine runs per value, one of each value in turn, medians). Three rounds, interleaved; the error
   is the median predicted speedup over the median measured one, minus 1. On this machine
   `p` is 2; with more cores the benchmark predicts 4, 8 and 16, up to the cores, and
   measures them. How the prediction is made: [How the prediction is made](how-it-predicts.md).

{prediction.START}
{chr(10).join(table)}
{prediction.END}

8. **Observation's effect**: on the seed statement, in one process, `parcompare` sweeps with
   five timed runs per value alternating with the same five interleaved serial and n_jobs=2
   calls timed with `time.perf_counter` alone; the median speedup of the first over the
   second, minus 1. Everything the tool watches during a timed run (CPU, joblib calls,
   task durations, runnable threads) is in it; memory is sampled in first calls (and a fast
   statement's calibration) only.

On a shared virtual machine the noise of single calls can exceed the repeatability target by
itself; the JSON file (`benchmarks/results/latest.json`) keeps every raw run so that the
figures can be checked.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the ipyparallel_ds benchmarks.")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (harness check)")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    start = time.perf_counter()
    figures: list[Figure] = []

    log("1. time to answer and repeatability (seed statement, interleaved)")
    data = time_to_answer.measure(2 if args.quick else time_to_answer.ROUNDS)
    figures += time_to_answer.figures(data)
    log("2. accuracy")
    figures += truth.accuracy(data)
    log("3. first-call truth")
    figures.append(truth.first_call(data["parcompare_first_call_n_jobs_2"], 2 if args.quick else 3))
    log("4. load cost")
    figures.append(load_cost.measure(3 if args.quick else 10))
    log("5. harness overhead")
    figures.append(overhead.measure(rounds))
    log("6. memory accounting")
    figures.append(memory.measure())
    log("7. prediction from the tasks against measured runs")
    predicted = prediction.figures(prediction.measure(2 if args.quick else 3))
    figures += predicted
    log("8. the observation's effect on the speedup")
    figures.append(sampler_cost.measure(3 if args.quick else 8))

    seconds = time.perf_counter() - start
    info = machine()
    print()
    for figure in figures:
        print(figure.line())
    print(f"\n{len(figures)} figures in {seconds / 60:.1f} min")
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {"machine": info, "seconds": seconds, "figures": [f.to_dict() for f in figures]},
                indent=2,
            )
            + "\n"
        )
        DOCS.write_text(markdown(info, figures, seconds, predicted[0].details.get("table", [])))
        print(f"wrote {RESULTS.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
