"""The scaling fit on synthetic timings, the recommendation and the break-even count."""

from __future__ import annotations

import pytest

from ipyparallel_ds.result import ConfigTiming, build_result
from ipyparallel_ds.scaling import break_even_calls, fit_scaling, karp_flatt, recommended_config


def timing(n_jobs, seconds, workers=None, first=None, spread=(1.0, 1.0, 1.0)):
    return ConfigTiming(
        n_jobs=n_jobs,
        workers=workers or n_jobs,
        first_call=first if first is not None else seconds + 1.0,
        loops=1,
        all_runs=tuple(seconds * f for f in spread),
    )


def amdahl(s, c, t1=1.0):
    return lambda p: t1 * (s + (1 - s) / p) + c * (p - 1)


@pytest.mark.parametrize(("s", "c"), [(0.04, 0.01), (0.2, 0.0), (0.01, 0.05)])
def test_fit_recovers_known_serial_fraction_and_overhead(s, c):
    law = amdahl(s, c)
    model = fit_scaling([timing(p, law(p)) for p in (1, 2, 4, 8)])
    assert model.serial_fraction == pytest.approx(s, rel=0.01)
    if c:
        assert model.overhead_per_worker == pytest.approx(c, rel=0.01)
    else:
        assert model.overhead_per_worker == pytest.approx(0.0, abs=1e-6)
    assert model.residual < 1e-6
    for p in (3, 16, 32):
        assert model.predict(p) == pytest.approx(1.0 / law(p))
    assert model.max_speedup == pytest.approx(1 / s, rel=0.01)


def test_fit_without_one_worker_fits_t1_too():
    law = amdahl(0.05, 0.02, t1=3.0)
    model = fit_scaling([timing(p, law(p)) for p in (2, 4, 8)])
    assert model.t1 == pytest.approx(3.0, rel=0.01)
    assert model.serial_fraction == pytest.approx(0.05, rel=0.01)


def test_two_points_give_the_serial_fraction_alone():
    law = amdahl(0.08, 0.0)
    model = fit_scaling([timing(1, law(1)), timing(2, law(2))])
    assert model.serial_fraction == pytest.approx(0.08)
    assert model.overhead_per_worker == 0.0
    assert "two worker counts" in model.note
    ((workers, kf),) = model.karp_flatt
    assert workers == 2 and kf == pytest.approx(karp_flatt(law(1) / law(2), 2))
    assert kf == pytest.approx(0.08)


def test_one_point_has_no_fit():
    assert fit_scaling([timing(1, 1.0)]) is None


def test_recommendation_is_the_fewest_workers_within_5_percent_of_the_best():
    configs = [timing(1, 1.0), timing(2, 0.52), timing(4, 0.50), timing(-1, 0.55, workers=4)]
    assert recommended_config(configs).n_jobs == 2
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 4}})
    assert result.recommended_n_jobs == 2


def test_break_even_calls():
    base = timing(1, 1.0)
    assert break_even_calls(timing(2, 0.5, first=2.5), base) == 4  # 2.0 s start-up / 0.5 s
    assert break_even_calls(timing(2, 0.5, first=0.4), base) == 1  # no start-up cost
    assert break_even_calls(timing(2, 1.2, first=3.0), base) is None  # no saving: never


def test_a_one_worker_cluster_is_never_recommended():
    from dataclasses import replace

    from ipyparallel_ds.result import ConfigTiming
    from ipyparallel_ds.scaling import recommended_config

    serial = ConfigTiming(1, 1, 0.1, 1, (0.10, 0.10, 0.10), backend="sequential", speedup=1.0)
    noise = replace(serial, backend="dask", speedup=1.1, all_runs=(0.09, 0.09, 0.09))
    slower = replace(serial, n_jobs=2, workers=2, backend="dask", speedup=0.6)
    assert recommended_config([serial, noise, slower]) is serial
