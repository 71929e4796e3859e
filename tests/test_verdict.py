"""The verdict on synthetic timings: only measured things, in words that match the numbers."""

from __future__ import annotations

import math

import pytest
from test_scaling import amdahl, timing

from ipyparallel_ds.result import build_result


def test_verdict_states_only_measured_things():
    law = amdahl(0.04, 0.0)
    configs = [timing(1, law(1)), timing(2, law(2), first=law(2) + 2.0)]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    text = result.verdict
    speedup = result.configs[1].speedup
    assert f"{speedup:.2f}× as fast" in text
    calls = result.break_even_calls
    assert calls == math.ceil(2.0 / (law(1) - law(2))) and f"after {calls} calls" in text
    assert "Recommended: n_jobs=2" in text
    # No tasks were measured: nothing is said about other machines, and Amdahl's law, fitted
    # to two points, is no longer quoted.
    assert "Amdahl" not in text and "Predicted" not in text and not result.predictions
    assert text in result.report()


def test_verdict_when_parallel_is_slower_claims_no_serial_fraction():
    configs = [timing(1, 0.01), timing(2, 0.05, first=2.0)]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    assert "slower" in result.verdict
    assert "serial fraction" not in result.verdict
    assert not result.scaling.explains_data
    ax = result.plot("speedup")  # nor does the chart draw a model without measured tasks
    assert not any(line.get_label().startswith("predicted") for line in ax.lines)
    assert "Recommended: n_jobs=1" in result.verdict
    assert result.break_even_calls is None


def test_chart_shows_the_prediction_the_task_limit_and_the_recommendation():
    from _synthetic import tasks_sweep

    result = tasks_sweep()
    ax = result.plot("speedup")
    labels = {line.get_label(): line for line in ax.lines}
    predicted = labels["predicted from the tasks"]
    limit = labels["limit of the tasks"]
    assert max(predicted.get_xdata()) == 8  # four times the 2 usable cores
    assert limit.get_drawstyle() == "steps-post"
    assert all(
        y <= top + 1e-9 for y, top in zip(predicted.get_ydata(), limit.get_ydata(), strict=True)
    )
    assert list(limit.get_ydata())[-1] == pytest.approx(result.predict(8).limit)
    star = labels[f"recommended: {result.recommended.name}"]
    assert list(star.get_xdata()) == [result.recommended.workers]
    plain = result.plot("speedup", show_prediction=False)
    assert not any(line.get_label().startswith("predicted") for line in plain.lines)
    assert not any(
        line.get_label().startswith("predicted") for line in result.plot("efficiency").lines
    )


def test_the_verdict_says_what_the_tasks_allow_and_the_best_n_jobs_on_a_bigger_machine():
    from _synthetic import tasks_sweep

    text = tasks_sweep().verdict
    assert "runs 5 tasks: more than 5 workers cannot run at once" in text
    assert "at 4 workers they take 2 rounds, so at best 2.5×" in text
    assert "for a machine with 8 cores: n_jobs=5 would give" in text
    assert "5 workers would need about" in text and "110 MB per worker as measured" in text


def test_recommending_a_value_within_the_noise_says_so():
    configs = [
        timing(1, 1.0, spread=(0.8, 1.0, 1.2)),
        timing(2, 0.9, spread=(0.7, 1.0, 1.3), first=2.0),
    ]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    assert result.recommended_n_jobs == 2
    assert "not measurably faster" in result.verdict
    assert "within the noise" in result.verdict


# -- the verdict names its own doubt (issue 14) ----------------------------------------------
def test_no_effect_recommends_the_baseline_whatever_the_noise_says():
    """KMeans-like: n_jobs had no effect, so a noisy 1.2x must not become a recommendation."""
    configs = [timing(1, 1.0, spread=(0.9, 1.0, 1.1)), timing(2, 0.82, first=1.0)]
    result = build_result(
        "f()", configs, 0, no_effect="the statement made no joblib parallel call",
        environment={"cores": {"usable": 2}},
    )  # fmt: skip
    assert result.configs[1].speedup > 1.1
    assert result.recommended_n_jobs == 1
    assert "had no effect" in result.verdict


def test_super_linear_speedup_and_a_wide_interval_are_named_as_doubtful():
    base = timing(1, 1.0, spread=(1.0, 1.0, 3.0, 1.0, 1.0))
    fast = timing(2, 0.39, first=1.0, spread=(1.0, 0.9, 1.0, 0.4, 1.0))
    result = build_result("f()", [base, fast], 0, environment={"cores": {"usable": 2}})
    config = result.configs[1]
    low, high = config.speedup_ci
    assert config.efficiency > 1.1 and high - low > config.speedup
    assert "more than its 2 workers can give" in result.verdict
    assert "wider than the speedup itself" in result.verdict


def test_first_call_of_process_workers_is_not_called_a_thread_pool():
    """permutation_importance-like: loky workers and a threading call in one statement."""
    from dataclasses import replace

    configs = [timing(1, 1.0), replace(timing(2, 0.55, first=2.5), backend_used="loky, threading")]
    result = build_result("f()", configs, 0, environment={"cores": {"usable": 2}})
    assert "while the workers started" in result.verdict
    assert "thread pool" not in result.verdict
    threads = [configs[0], replace(configs[1], backend_used="threading")]
    assert "thread pool" in build_result("f()", threads, 0).verdict
