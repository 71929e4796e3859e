"""The chart, the widget and what gets displayed, from synthetic results (no pixels)."""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.figure import Figure

from ipyparallel_ds.result import ConfigTiming, build_result

SERIAL = (0.66, 0.64, 0.65, 0.67, 0.65)
PAIRED = (0.65, 0.66, 0.64, 0.67, 0.65)


def synthetic(minus_one=True):
    configs = [
        ConfigTiming(n_jobs=1, workers=1, first_call=0.7, loops=1, all_runs=SERIAL),
        ConfigTiming(
            n_jobs=2,
            workers=2,
            first_call=2.4,
            loops=1,
            all_runs=(0.35, 0.36, 0.34, 0.35, 0.37),
            paired_baseline=PAIRED,
        ),
    ]
    if minus_one:
        configs.append(
            ConfigTiming(
                n_jobs=-1,
                workers=2,
                first_call=2.2,
                loops=1,
                all_runs=(0.36, 0.35, 0.35, 0.36, 0.34),
                paired_baseline=PAIRED,
            )
        )
    return build_result(
        "cross_val_score(SVC(), X, y, cv=20)",
        configs,
        0,
        environment={"cores": {"usable": 2}},
    )


def test_no_pyplot_state():
    import sys

    synthetic().plot("time")
    assert "matplotlib.pyplot" not in sys.modules or not matplotlib.pyplot.get_fignums()


@pytest.mark.parametrize("metric", ["time", "speedup", "efficiency"])
def test_axes_contents_for_each_metric(metric):
    result = synthetic(minus_one=False)
    ax = result.plot(metric)
    assert isinstance(ax.figure, Figure)
    assert {"time": "time", "speedup": "speedup", "efficiency": "efficiency"}[metric] in (
        ax.get_ylabel()
    )
    assert "workers" in ax.get_xlabel() and "usable cores on this machine: 2" in ax.get_xlabel()
    assert ax.get_title().startswith("cross_val_score")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    measured = ax.containers[0]  # the errorbar container
    xs, ys = measured.lines[0].get_data()
    assert list(xs) == [1, 2]
    if metric == "time":
        assert list(ys) == pytest.approx([c.median for c in result.configs])
        assert "first call (workers starting)" in legend
        first = next(line for line in ax.lines if line.get_label().startswith("first call"))
        assert list(first.get_ydata()) == [0.7, 2.4]
        assert measured.has_yerr  # IQR error bars
    elif metric == "speedup":
        assert list(ys) == pytest.approx([1.0, result.configs[1].speedup])
        ideal = next(line for line in ax.lines if line.get_label() == "ideal")
        assert list(ideal.get_xdata()) == [1, 2] and list(ideal.get_ydata()) == [1.0, 2.0]
        assert measured.has_yerr  # the speedup's interval
    else:
        assert list(ys) == pytest.approx([100.0, result.configs[1].efficiency * 100])
        assert any(line.get_label() == "ideal (100 %)" for line in ax.lines)


def test_minus_one_shares_its_tick_and_is_labelled():
    ax = synthetic().plot("speedup")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1", "2, -1 (2)"]


def test_statistic_log_scale_and_first_calls_options():
    result = synthetic(minus_one=False)
    ax = result.plot("time", statistic="best", log_scale=True, show_first_call=False)
    assert ax.get_yscale() == "log"
    assert not any(line.get_label().startswith("first call") for line in ax.lines)
    _xs, ys = ax.containers[0].lines[0].get_data()
    assert list(ys) == pytest.approx([c.best for c in result.configs])
    mean_speedup = result.plot("speedup", statistic="mean").containers[0].lines[0].get_ydata()
    assert mean_speedup[1] == pytest.approx((sum(PAIRED) / 5) / result.configs[1].average)


def test_plot_into_a_given_axes_and_bad_metric():
    fig = Figure()
    ax = fig.add_subplot()
    assert synthetic().plot("efficiency", ax=ax) is ax
    with pytest.raises(ValueError, match="'bogus'"):
        synthetic().plot("bogus")
    with pytest.raises(ValueError, match="'modal'"):
        synthetic().plot("time", statistic="modal")


def test_save_by_extension(tmp_path):
    result = synthetic()
    assert result.save(tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in result.save(tmp_path / "c.svg").read_bytes()
    assert result.save(tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert result.save(tmp_path / "c.json").read_text().startswith("{")
    assert result.save(tmp_path / "c.csv").read_text().startswith("backend,n_jobs,")
    with pytest.raises(ValueError, match=r"'c\.txt'"):
        result.save(tmp_path / "c.txt")


def test_text_chart_bars_and_ideal_marks():
    chart = synthetic(minus_one=False).text_chart(width=40)
    lines = chart.splitlines()
    assert lines[1].startswith("n_jobs=1") and lines[1].rstrip().endswith("1.00×")
    assert lines[2].count("█") > lines[1].count("█")
    assert all("|" in line for line in lines[1:])
    assert chart in synthetic(minus_one=False).report()
