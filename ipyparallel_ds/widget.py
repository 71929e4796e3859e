"""The interactive speedup chart, and the live progress box: the only module that imports
ipywidgets (on first use, so that importing it stays cheap).

Changing a control never runs the statement again: the chart is redrawn from the
:class:`~ipyparallel_ds.result.ParCompareResult` it holds.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import plot as _plot

if TYPE_CHECKING:
    from .progress import SweepProgress
    from .result import ParCompareResult

__all__ = ["ParCompareWidget", "WidgetProgress", "make_widget"]


class ParCompareWidget:
    """Chart of a result with controls for metric, statistic, log scale, first calls and the
    prediction from the measured tasks.

    ``box`` is the ipywidgets ``VBox`` that holds the controls and the chart (put it in your
    own layout if you like). Besides the widget view, the display bundle carries
    ``image/png`` of the current chart and ``text/plain`` of the table, so the chart still
    shows where widgets cannot (nbconvert, GitHub's notebook viewer, a notebook opened
    without a kernel).
    """

    def __init__(self, result: ParCompareResult, metric: str = "speedup", **kwargs: Any) -> None:
        import ipywidgets as widgets

        self.result = result
        metrics = [name for name, view in _plot.METRICS.items() if view.available(result)]
        self.metric = widgets.ToggleButtons(
            options=metrics,
            value=metric,
            description="metric",
            style={"button_width": "90px"},
        )
        self.statistic = widgets.ToggleButtons(
            options=list(_plot.STATISTICS),
            value="median",
            description="statistic",
            style={"button_width": "70px"},
        )
        self.log_scale = widgets.Checkbox(value=False, description="log scale", indent=False)
        self.first_calls = widgets.Checkbox(value=True, description="first calls", indent=False)
        self.prediction = widgets.Checkbox(value=True, description="prediction", indent=False)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.caption = widgets.HTML()
        self.axes_label = ""
        controls = widgets.VBox(
            [
                self.metric,
                self.statistic,
                widgets.HBox([self.log_scale, self.first_calls, self.prediction]),
            ]
        )
        self.box = widgets.VBox(children=[controls, self.image, self.caption], **kwargs)
        self.box.add_class("parcompare-widget")
        for control in (
            self.metric,
            self.statistic,
            self.log_scale,
            self.first_calls,
            self.prediction,
        ):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _options(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "statistic": self.statistic.value,
            "log_scale": self.log_scale.value,
            "show_first_call": self.first_calls.value,
            "show_prediction": self.prediction.value,
        }

    def _redraw(self, change: Any = None) -> None:
        ax = _plot.plot(self.result, **self._options())
        self.axes_label = ax.get_ylabel()
        self.image.value = _plot.save_axes(ax, "png")
        self.caption.value = (
            f'<span class="parcompare-ylabel">{self.axes_label}</span> against workers; '
            f"{self.statistic.value} of the warm runs"
        )

    def close(self) -> None:
        """Close the widgets (the view disappears from the notebook)."""
        self.box.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.box._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        bundle["text/plain"] = self.result.report()
        return bundle


def make_widget(result: ParCompareResult, metric: str = "speedup") -> ParCompareWidget:
    """Build the chart widget for ``result``."""
    return ParCompareWidget(result, metric=metric)


class WidgetProgress:
    """A progress bar with a partial chart that fills in as each point completes.

    ``partial_result(statement, configs)`` builds a result from the points measured so far,
    for the partial chart.
    """

    def __init__(
        self, statement: str, describe: Callable[[SweepProgress], str], partial_result
    ) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self.statement = statement
        self.describe = describe
        self.partial_result = partial_result
        self.bar = widgets.IntProgress(min=0, max=1, value=0, bar_style="info")
        self.label = widgets.HTML("starting…")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="480px"))
        self.box = widgets.VBox([widgets.HBox([self.bar, self.label]), self.chart])
        self.box.add_class("parcompare-progress")
        self.handle = display(self.box, display_id=True)
        self._charted = 0

    def __call__(self, event: SweepProgress) -> None:
        self.bar.max = max(event.calls_total, 1)
        self.bar.value = min(event.calls_done, self.bar.max)
        self.label.value = self.describe(event)
        if len(event.completed) > max(self._charted, 1):
            self._charted = len(event.completed)
            partial = self.partial_result(self.statement, event.completed)
            self.chart.value = _plot.render(partial)

    def finish(self):
        """Close the bar; returns the display slot for the final table."""
        self.box.close()
        return self.handle
