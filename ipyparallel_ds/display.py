"""What ``%parcompare`` shows while it runs and when it is done.

Every displayed object carries ``text/plain`` (and ``image/png`` where the chart is the point)
in its bundle, so the frontend picks what it can show. Widgets are only made where a kernel
can talk to them; a terminal gets text.
"""

from __future__ import annotations

import base64
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ._points import point_name
from .plot import render
from .widget import WidgetProgress

if TYPE_CHECKING:
    from .progress import SweepProgress
    from .result import ParCompareResult

__all__ = ["StaticChart", "TextProgress", "describe", "has_kernel", "progress_for", "show"]


def has_kernel(shell: Any) -> bool:
    """Whether ``shell`` runs in a Jupyter kernel (widgets need its comms)."""
    return getattr(shell, "kernel", None) is not None


class StaticChart:
    """The default chart as a PNG, with the text chart as its plain-text form."""

    def __init__(self, result: ParCompareResult) -> None:
        self.result = result

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {
            "image/png": base64.b64encode(render(self.result)).decode("ascii"),
            "text/plain": self.result.text_chart(),
        }


def show(result: ParCompareResult, shell: Any, *, widget: bool = True, handle=None) -> None:
    """Display the result: the table, then (in a kernel) the chart widget or a static PNG.

    ``handle`` is the display slot of the progress bar, which the table replaces.
    """
    from IPython.display import display

    if handle is not None:
        handle.update(result)
    else:
        display(result)
    if has_kernel(shell) and len(result.configs) > 1:
        display(result.widget() if widget else StaticChart(result))


def _eta(event: SweepProgress) -> str:
    remaining = event.remaining
    if remaining is None:
        return "estimating time left"
    return f"about {remaining:.0f} s left" if remaining >= 1 else "under a second left"


def describe(event: SweepProgress) -> str:
    """One line for a progress event: the point, the phase, the calls and the time left."""
    where = point_name(event.backend, event.n_jobs, event.n_jobs)
    return (
        f"{where}: {event.phase} · call {event.calls_done} of about "
        f"{event.calls_total} · {_eta(event)}"
    )


class TextProgress:
    """A single updating line on a terminal; silent when the stream is not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._width = 0

    def __call__(self, event: SweepProgress) -> None:
        if not self.enabled:
            return
        line = describe(event)
        self._width = max(self._width, len(line))
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def progress_for(shell: Any, statement: str, partial_result) -> WidgetProgress | TextProgress:
    """The progress display that suits the frontend; ``partial_result(statement, configs)``
    builds the partial chart's result."""
    if has_kernel(shell):
        return WidgetProgress(statement, describe, partial_result)
    return TextProgress()
