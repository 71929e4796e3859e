"""How numbers are written: durations, sizes and plurals. The bottom layer: imports nothing of
the package."""

from __future__ import annotations

import math

__all__ = ["format_bytes", "format_time", "plural"]


def format_time(seconds: float, precision: int = 3) -> str:
    """Format a duration with a unit, to ``precision`` significant digits (as %timeit)."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds >= 60.0:
        minutes, rest = divmod(seconds, 60.0)
        return f"{int(minutes)} min {rest:.{max(precision - 2, 0)}f} s"
    units = ("s", "ms", "µs", "ns")
    order = min(-(math.floor(math.log10(seconds)) // 3), 3) if seconds > 0 else 3
    return f"{seconds * 1000**order:.{precision}g} {units[order]}"


def format_bytes(size: float) -> str:
    """``412 MB``, ``1.5 GB``: decimal units, as system monitors show them."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(size) >= scale:
            value = size / scale
            return f"{value:.3g} {unit}"
    return f"{size:.0f} B"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 worker``, ``2 workers`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else many or word + 's'}"
