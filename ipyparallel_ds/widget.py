"""The interactive speedup chart: an ipywidgets box that redraws from a stored result.

The only module that imports ipywidgets. Changing a control never runs the statement again:
the chart is redrawn from the :class:`~ipyparallel_ds.result.ParCompareResult` it holds.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from . import plot as _plot

if TYPE_CHECKING:
    from .result import ParCompareResult


class ParCompareWidget(widgets.VBox):
    """Chart of a result with controls for metric, statistic, log scale, first calls and the
    fitted scaling model.

    Besides the widget view, its display bundle carries ``image/png`` of the current chart and
    ``text/plain`` of the table, so the chart still shows where widgets cannot (nbconvert,
    GitHub's notebook viewer, a notebook opened without a kernel).
    """

    def __init__(self, result: ParCompareResult, metric: str = "speedup", **kwargs: Any) -> None:
        self.result = result
        # no memory view when memory was not sampled
        metrics = [m for m in _plot.METRICS if m != "memory" or result.memory_sampled]
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
        self.fit = widgets.Checkbox(value=True, description="fitted model", indent=False)
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.caption = widgets.HTML()
        self.axes_label = ""
        controls = widgets.VBox(
            [
                self.metric,
                self.statistic,
                widgets.HBox([self.log_scale, self.first_calls, self.fit]),
            ]
        )
        super().__init__(children=[controls, self.image, self.caption], **kwargs)
        self.add_class("parcompare-widget")
        for control in (self.metric, self.statistic, self.log_scale, self.first_calls, self.fit):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _options(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "statistic": self.statistic.value,
            "log_scale": self.log_scale.value,
            "show_first_call": self.first_calls.value,
            "show_fit": self.fit.value,
        }

    def _redraw(self, change: Any = None) -> None:
        ax = _plot.plot(self.result, **self._options())
        self.axes_label = ax.get_ylabel()
        self.image.value = _plot.save_axes(ax, "png")
        self.caption.value = (
            f'<span class="parcompare-ylabel">{self.axes_label}</span> against workers; '
            f"{self.statistic.value} of the warm runs"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        bundle["text/plain"] = self.result.report()
        return bundle


def make_widget(result: ParCompareResult, metric: str = "speedup") -> ParCompareWidget:
    """Build the chart widget for ``result``."""
    return ParCompareWidget(result, metric=metric)
