"""Statistics, report and export of results built from known timings."""

from __future__ import annotations

import csv
import json
import math
import statistics

import pytest

from ipyparallel_ds import checks
from ipyparallel_ds.result import ConfigTiming, ParCompareResult, format_time
from ipyparallel_ds.stats import with_speedups


def stability_warnings(configs):
    """The warnings the timings alone give (stability, one core)."""
    found = checks.run(configs, checks.Context(usable=2), checks.TIMING_CHECKS)
    return [f.text for f in found]


def config(n_jobs, workers, runs, first=None, loops=1, paired=()):
    return ConfigTiming(
        n_jobs=n_jobs,
        workers=workers,
        first_call=first if first is not None else runs[0] * 3,
        loops=loops,
        all_runs=tuple(r * loops for r in runs),
        paired_baseline=tuple(paired),
    )


def result(*configs, baseline=0, **kwargs):
    filled = with_speedups(list(configs), baseline)
    return ParCompareResult(
        statement="cross_val_score(SVC(), X, y, cv=20)",
        configs=filled,
        baseline_n_jobs=filled[baseline].n_jobs,
        warnings=stability_warnings(filled),
        **kwargs,
    )


SERIAL = [0.66, 0.64, 0.65, 0.67, 0.65]
PARALLEL = [0.35, 0.36, 0.34, 0.35, 0.36]


def test_timeit_statistics_per_loop():
    c = config(2, 2, [0.3, 0.1, 0.2, 0.4], loops=10)
    assert c.timings == pytest.approx((0.3, 0.1, 0.2, 0.4))
    assert c.best == pytest.approx(0.1) and c.worst == pytest.approx(0.4)
    assert c.average == pytest.approx(0.25)
    assert c.stdev == pytest.approx(statistics.pstdev([0.3, 0.1, 0.2, 0.4]))
    assert c.median == pytest.approx(0.25)
    assert c.iqr == pytest.approx(0.325 - 0.175)
    assert c.repeat == 4


def test_speedup_from_paired_runs_and_from_all_baseline_runs():
    serial = config(1, 1, SERIAL)
    paired = config(2, 2, PARALLEL, paired=[1.0] * 5)
    r = result(serial, paired)
    assert r.configs[1].speedup == pytest.approx(1.0 / 0.35)
    unpaired = result(serial, config(2, 2, PARALLEL))
    assert unpaired.configs[1].speedup == pytest.approx(0.65 / 0.35)
    assert unpaired.configs[1].efficiency == pytest.approx(0.65 / 0.35 / 2)


def test_speedup_interval_is_deterministic_and_brackets_the_estimate():
    a = result(config(1, 1, SERIAL), config(2, 2, PARALLEL, paired=SERIAL))
    b = result(config(1, 1, SERIAL), config(2, 2, PARALLEL, paired=SERIAL))
    assert a.configs[1].speedup_ci == b.configs[1].speedup_ci
    low, high = a.configs[1].speedup_ci
    assert low <= a.configs[1].speedup <= high


def test_speedup_ci_widens_the_session_interval_by_the_variation_between_sessions():
    from scipy.stats import t as student

    from ipyparallel_ds.stats import BETWEEN_SESSIONS_DF, BETWEEN_SESSIONS_LOG_SD

    parallel = result(config(1, 1, SERIAL), config(2, 2, PARALLEL, paired=SERIAL)).configs[1]
    session_low, session_high = parallel.session_ci
    low, high = parallel.speedup_ci
    assert low < session_low <= parallel.speedup <= session_high < high
    between = student.ppf(0.975, BETWEEN_SESSIONS_DF) * BETWEEN_SESSIONS_LOG_SD
    within = math.log(session_high / session_low) / 2
    assert math.log(high / low) / 2 == pytest.approx(math.hypot(within, between))
    # the budget's precision is this session's, which more runs can shrink
    from ipyparallel_ds.precision import precision_of

    assert precision_of(parallel) == pytest.approx(math.sqrt(session_high / session_low) - 1)


def test_the_between_sessions_noise_is_the_one_the_benchmark_measured():
    """stats.BETWEEN_SESSIONS_* are the figures of benchmarks/results/estimators.json: the
    standard deviation of the log warm speedup over its fresh processes."""
    from pathlib import Path

    from ipyparallel_ds.stats import BETWEEN_SESSIONS_DF, BETWEEN_SESSIONS_LOG_SD

    saved = Path(__file__).resolve().parent.parent / "benchmarks/results/estimators.json"
    processes = json.loads(saved.read_text())["processes"]
    figures = [
        statistics.median(p["serial"][2:]) / statistics.median(p["parallel"][2:]) for p in processes
    ]
    assert len(figures) - 1 == BETWEEN_SESSIONS_DF
    measured = statistics.stdev(math.log(f) for f in figures)
    assert pytest.approx(measured, abs=5e-4) == BETWEEN_SESSIONS_LOG_SD


def test_speedup_interval_pools_noise_over_points_and_narrows_with_runs():
    from ipyparallel_ds.stats import speedup_interval

    # Two runs a side: alone they have 2 degrees of freedom, and t(2) is wide.
    serial, parallel = [1.00, 1.04], [0.50, 0.52]
    alone = speedup_interval(serial, parallel)
    # The same noise measured at more points gives the pooled estimate more freedom.
    others = [[0.30, 0.312], [0.20, 0.208], [0.25, 0.26]]
    pooled = speedup_interval(serial, parallel, [serial, parallel, *others])
    point = 1.02 / 0.51
    assert alone[0] < pooled[0] < point < pooled[1] < alone[1]
    # The interval is symmetric on the log scale around the ratio of medians.
    assert pooled[0] * pooled[1] == pytest.approx(point**2)
    more = speedup_interval(serial * 4, parallel * 4, [serial * 4, parallel * 4, *others])
    assert pooled[0] < more[0] and more[1] < pooled[1]
    # Without any spread there is no interval to speak of; without runs, none at all.
    assert speedup_interval([1.0], [0.5]) == (2.0, 2.0)
    assert all(math.isnan(x) for x in speedup_interval([], [0.5]))


def test_efficiency_relative_to_a_parallel_baseline():
    r = result(config(2, 2, [1.0, 1.0, 1.0]), config(4, 4, [0.5, 0.5, 0.5]))
    assert r.configs[1].speedup == pytest.approx(2.0)
    assert r.configs[1].efficiency == pytest.approx(1.0)


def test_format_time_uses_units_like_timeit():
    assert format_time(0.66) == "660 ms"
    assert format_time(1.234) == "1.23 s"
    assert format_time(0.0000123) == "12.3 µs"
    assert format_time(3e-9) == "3 ns"
    assert format_time(0.0358, 2) == "36 ms"
    assert format_time(125.0) == "2 min 5.0 s"


def test_table_has_every_column_and_the_interval():
    r = result(config(1, 1, SERIAL), config(2, 2, PARALLEL, paired=SERIAL))
    table = r.table().splitlines()
    assert table[0].split() == [
        "n_jobs", "workers", "ran", "on", "first", "call", "warm", "(median", "±", "IQR)",
        "speedup", "efficiency",
    ]  # fmt: skip
    assert table[1].split()[2] == "-"  # what ran was not observed in synthetic results
    assert table[1].split()[:2] == ["1", "1"]
    low, high = r.configs[1].speedup_ci
    assert f"{r.configs[1].speedup:.2f}× [{low:.2f}, {high:.2f}]" in table[2]
    assert table[2].rstrip().endswith(f"{r.configs[1].efficiency * 100:.0f} %")


def test_summary_speaks_from_the_numbers():
    faster = result(config(1, 1, SERIAL), config(2, 2, PARALLEL, first=2.41, paired=SERIAL))
    text = faster.summary
    speedup = faster.configs[1].speedup
    assert f"n_jobs=2 is {speedup:.2f}× as fast as n_jobs=1" in text
    assert format_time(2.41) in text
    assert format_time(2.41 - faster.configs[1].median) in text

    slower = result(config(1, 1, [0.01] * 5), config(2, 2, [0.05] * 5, paired=[0.01] * 5))
    assert "slower than n_jobs=1" in slower.summary

    same = result(
        config(1, 1, [1.0, 1.2, 0.8, 1.1, 0.9]),
        config(2, 2, [1.0, 0.9, 1.1, 1.2, 0.8], paired=[1.0, 1.2, 0.8, 1.1, 0.9]),
    )
    assert "not measurably faster" in same.summary

    alone = result(config(1, 1, SERIAL))
    assert "nothing to compare" in alone.summary


def test_stability_warnings():
    steady = config(1, 1, SERIAL)
    noisy = config(2, 2, [0.3, 0.5, 0.35, 0.45, 0.4])
    spiky = config(4, 4, [0.1, 0.1, 0.1, 0.5, 0.1])
    warnings = stability_warnings([steady, noisy, spiky])
    assert not any("n_jobs=1" in w for w in warnings)
    assert any("n_jobs=2 were unstable" in w for w in warnings)
    assert any("n_jobs=4 the slowest run took 5.0 times" in w for w in warnings)


def test_export_dict_json_csv_frame(tmp_path):
    r = result(config(1, 1, SERIAL), config(-1, 2, PARALLEL, paired=SERIAL))
    data = json.loads(r.to_json())
    assert data == json.loads(json.dumps(r.to_dict()))
    assert [c["n_jobs"] for c in data["configs"]] == [1, -1]
    assert data["configs"][1]["workers"] == 2
    assert data["configs"][1]["speedup"] == pytest.approx(r.configs[1].speedup)
    for key in ("timings", "best", "worst", "average", "stdev", "median", "iqr", "speedup_ci"):
        assert key in data["configs"][0]
    r.to_json(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["statement"] == r.statement

    r.to_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["n_jobs"] for row in rows] == ["1", "-1"]
    assert float(rows[1]["median"]) == pytest.approx(r.configs[1].median)

    frame = r.to_frame()
    assert list(frame.index) == [1, -1]
    assert frame.loc[-1, "workers"] == 2


def test_mimebundle_has_plain_text_and_html():
    r = result(config(1, 1, SERIAL), config(2, 2, PARALLEL))
    bundle = r._repr_mimebundle_()
    assert bundle["text/plain"] == r.report()
    assert "<table" in bundle["text/html"] and "speedup" in bundle["text/html"]
    assert "ParCompareResult" in repr(r)


def test_json_has_no_nan():
    c = ConfigTiming(n_jobs=1, workers=1, first_call=math.nan, loops=1, all_runs=(1.0,))
    r = ParCompareResult(statement="pass", configs=with_speedups([c], 0))
    assert "NaN" not in r.to_json()


def test_interrupted_before_warm_runs_shows_first_calls_only():
    serial = ConfigTiming(n_jobs=1, workers=1, first_call=0.7, loops=1, all_runs=())
    parallel = ConfigTiming(n_jobs=2, workers=2, first_call=2.5, loops=1, all_runs=())
    r = ParCompareResult(statement="f()", configs=with_speedups([serial, parallel], 0))
    assert "Stopped before warm runs" in r.summary and format_time(2.5) in r.summary
    rows = r.table().splitlines()[1:]
    assert all(row.split()[5:] == ["-", "-", "-"] for row in rows)  # after "700 ms"
    assert json.loads(r.to_json())["configs"][1]["median"] is None


def test_from_json_rebuilds_a_multi_backend_result(tmp_path):
    from dataclasses import replace

    serial = replace(config(1, 1, SERIAL), backend="sequential")
    loky = replace(config(2, 2, PARALLEL, paired=SERIAL), backend="loky")
    dask = replace(
        config(2, 2, [0.5, 0.52, 0.49], paired=SERIAL[:3]), backend="dask", cluster_startup=1.5
    )
    original = result(
        serial,
        loky,
        dask,
        baseline_backend="sequential",
        clusters=[{"backend": "dask", "kind": "local", "startup": 0.1}],
    )
    rebuilt = ParCompareResult.from_json(original.to_json(tmp_path / "r.json"))
    assert rebuilt.to_dict() == json.loads(original.to_json())
    assert rebuilt.configs == original.configs
    assert rebuilt.backends == ["loky", "dask"] and rebuilt.verdict == original.verdict
    assert ParCompareResult.from_json(tmp_path / "r.json").table() == original.table()
