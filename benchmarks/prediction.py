"""Benchmark 7: the prediction of ``result.predict(p)`` against measured runs.

For each workload (task structures of scikit-learn's gallery and user guide, named by source):

- **predicted**: a fresh process runs ``parcompare(stmt, setup, n_jobs=[1])`` and takes
  ``result.predict(2)`` (on a machine with more cores, ``n_jobs=[1, 2]`` and predicts 4, 8 and
  16, up to the cores);
- **measured**: another fresh process, with nothing of ipyparallel_ds, times the statement with
  ``time.perf_counter`` at n_jobs 1 and each predicted count (pools warmed, nine runs per
  value, one of each value in turn, medians);

the two interleaved, round after round. The error is the median predicted speedup over the
median measured one, minus 1. The prediction must also never be above its own ``.limit``.

    python benchmarks/prediction.py           # the table alone, three rounds
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from _common import Figure, fresh_python, log

DIGITS = """
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
"""


@dataclass(frozen=True)
class Workload:
    name: str
    source: str
    setup: str
    statement: str  # n_jobs=1 literally where the estimator needs its own (rewritten)


def _cross_val(cv: int) -> Workload:
    return Workload(
        f"cross_val_score, cv={cv}",
        "user guide 3.1.1, 'Computing cross-validated metrics' (SVC on the digits)",
        DIGITS
        + "from sklearn.model_selection import cross_val_score\nfrom sklearn.svm import SVC\n",
        f"cross_val_score(SVC(), X, y, cv={cv})",
    )


WORKLOADS = (
    *(_cross_val(cv) for cv in (2, 3, 5, 10, 20)),
    Workload(
        "grid search, unequal candidates",
        "gallery, 'Custom refit strategy of a grid search with cross-validation' (SVC, C from "
        "0.01 to 100)",
        DIGITS + "from sklearn.model_selection import GridSearchCV\nfrom sklearn.svm import SVC\n"
        "grid = {'C': [0.01, 0.1, 1, 10, 100], 'gamma': [1e-3]}\n",
        "GridSearchCV(SVC(), grid, cv=3).fit(X, y)",
    ),
    Workload(
        "random forest fit (threads)",
        "gallery, 'Feature importances with a forest of trees'",
        DIGITS + "from sklearn.ensemble import RandomForestClassifier\n",
        "RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0).fit(X, y)",
    ),
    Workload(
        "permutation importance",
        "gallery, 'Permutation Importance with Multicollinear or Correlated Features' "
        "(breast cancer, random forest)",
        """
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=42)
clf = RandomForestClassifier(n_estimators=50, random_state=42).fit(X_train, y_train)
""",
        "permutation_importance(clf, X_test, y_test, n_repeats=10, random_state=42)",
    ),
    Workload(
        "learning curve",
        "gallery, 'Plotting Learning Curves and Checking Models' Scalability' (SVC, digits)",
        DIGITS + "import numpy as np\nfrom sklearn.model_selection import learning_curve\n"
        "from sklearn.svm import SVC\n",
        "learning_curve(SVC(gamma=0.001), X, y, cv=5, train_sizes=np.linspace(0.1, 1.0, 5))",
    ),
)

PREDICT = """
import json
from ipyparallel_ds import parcompare
r = parcompare({statement!r}, {setup!r}, n_jobs={measured}, quiet=True, check=False)
out = {{}}
for p in {counts}:
    made = r.predict(p)
    out[p] = None if made is None else [made.speedup, made.limit, made.time]
print(json.dumps({{"serial": r.baseline.median, "predicted": out,
                  "tasks": [[c.backend, c.tasks] for c in r.tasks]}}))
"""

MEASURE = """
import json, time
from joblib import parallel_config
{setup}
statement = {statement!r}

def timed(n_jobs):
    code = compile(statement.replace("n_jobs=1", "n_jobs=" + str(n_jobs)), "<bench>", "exec")
    with parallel_config(n_jobs=n_jobs):
        t0 = time.perf_counter()
        exec(code, globals())
        return time.perf_counter() - t0

values = [1, *{counts}]
for n_jobs in values:
    timed(n_jobs), timed(n_jobs)
runs = {{n: [] for n in values}}
for _ in range(9):  # one run of each value in turn, so that a slow spell hits them all
    for n_jobs in values:
        runs[n_jobs].append(timed(n_jobs))
print(json.dumps(runs))
"""


def counts_to_check(cores: int) -> tuple[list[int], list[int]]:
    """The n_jobs values measured for the prediction, and the worker counts predicted."""
    if cores < 4:
        return [1], [2]
    return [1, 2], [p for p in (4, 8, 16) if p <= cores]


def measure(rounds: int, workloads=WORKLOADS) -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    measured, counts = counts_to_check(cores or 1)
    rows = {w.name: {"source": w.source, "predicted": [], "measured": []} for w in workloads}
    for round_ in range(rounds):
        for w in workloads:
            log(f"  round {round_ + 1}/{rounds}: {w.name}")
            predicted = fresh_python(
                PREDICT.format(
                    statement=w.statement, setup=w.setup, measured=measured, counts=counts
                )
            )
            truth = fresh_python(
                MEASURE.format(setup=w.setup, statement=w.statement, counts=counts)
            )
            row = rows[w.name]
            row["tasks"] = predicted["tasks"]
            row["predicted"].append(predicted["predicted"])
            serial = statistics.median(truth["1"])
            row["measured"].append({p: serial / statistics.median(truth[str(p)]) for p in counts})
    return {"cores": cores, "from": measured, "counts": counts, "rows": rows}


def table(data: dict) -> tuple[list[dict], list[str]]:
    """One entry per workload and predicted count: medians and the error; and the markdown
    lines of the table."""
    entries, lines = (
        [],
        [
            "| workload | source | tasks | workers | predicted | limit | measured | error |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ],
    )
    for name, row in data["rows"].items():
        for p in data["counts"]:
            made = [r[str(p)] for r in row["predicted"] if r.get(str(p))]
            if not made:
                lines.append(f"| {name} | {row['source']} | - | {p} | not predicted | | | |")
                continue
            speedup = statistics.median(m[0] for m in made)
            limit = statistics.median(m[1] for m in made)
            over_limit = any(m[0] > m[1] * (1 + 1e-9) for m in made)
            truth = statistics.median(m[str(p)] if str(p) in m else m[p] for m in row["measured"])
            error = speedup / truth - 1
            tasks = " + ".join(f"{count} ({backend})" for backend, count in row["tasks"])
            entries.append(
                {
                    "workload": name,
                    "workers": p,
                    "predicted": speedup,
                    "limit": limit,
                    "measured": truth,
                    "error": error,
                    "over_limit": over_limit,
                }
            )
            lines.append(
                f"| {name} | {row['source']} | {tasks} | {p} | {speedup:.2f}× | {limit:.2f}× "
                f"| {truth:.2f}× | {error * 100:+.0f} % |"
            )
    return entries, lines


def figures(data: dict) -> list[Figure]:
    entries, lines = table(data)
    errors = [abs(e["error"]) for e in entries]
    details = {"table": lines, "raw": data}
    if not errors:
        return [
            Figure("prediction error (median)", None, "%", "<= 10 %", None, "nothing predicted")
        ]
    over = [e["workload"] for e in entries if e["over_limit"]]
    worst = max(entries, key=lambda e: abs(e["error"]))
    return [
        Figure(
            "prediction error, median |predicted / measured - 1|",
            statistics.median(errors) * 100,
            "%",
            "<= 10 %",
            statistics.median(errors) <= 0.10,
            f"{len(entries)} predictions of {len(data['rows'])} workloads from n_jobs="
            f"{','.join(map(str, data['from']))}",
            details,
        ),
        Figure(
            "prediction error, largest",
            abs(worst["error"]) * 100,
            "%",
            "<= 20 %",
            abs(worst["error"]) <= 0.20,
            f"{worst['workload']} at {worst['workers']} workers",
        ),
        Figure(
            "predictions above their own limit",
            float(len(over)),
            "",
            "0",
            not over,
            ", ".join(over),
        ),
    ]


START = "<!-- prediction table: written by benchmarks/prediction.py -->"
END = "<!-- end of the prediction table -->"


def write_table(lines: list[str], stamp: str) -> None:
    """Put the table in docs/performance.md between its markers, with when it was made."""
    docs = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
    text = docs.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{docs} has no prediction table markers; run `make bench` first")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    docs.write_text(f"{head}{START}\n{stamp}\n\n" + "\n".join(lines) + f"\n{END}{tail}")


if __name__ == "__main__":
    import datetime as dt
    import subprocess

    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    data = measure(rounds)
    lines = table(data)[1]
    made = figures(data)
    print("\n".join(lines))
    for figure in made:
        print(figure.line())
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = "; ".join(
        f"{f.name}: {f.value:.3g} {f.unit} ({'met' if f.met else 'missed'})"
        for f in made
        if f.value is not None
    )
    write_table(
        lines,
        f"Run alone (`python benchmarks/prediction.py {rounds}`) at {commit}, "
        f"{when}, {data['cores']} cores, {rounds} rounds: {summary}.",
    )
    out = Path(__file__).resolve().parent / "results" / "prediction.json"
    out.write_text(json.dumps({"rounds": rounds, "data": data}, indent=1) + "\n")
