"""Shared pieces of the benchmarks: figures, fresh processes, small statistics."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One benchmark figure next to its target."""

    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None  # None: not measured (with the reason in ``note``)
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        if self.value is None:
            status, value = "NOT MEASURED", "-"
        else:
            status = "ok" if self.met else "MISS"
            value = f"{self.value:.3g} {self.unit}".strip()
        text = f"[{status:>4}] {self.name}: {value} (target {self.target})"
        return text + (f" - {self.note}" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relative_figure(
    name: str, reported: float, truth: float, tolerance: float, **extra: Any
) -> Figure:
    """A figure for ``reported`` against ``truth``: relative error in %, met within ±tolerance."""
    error = reported / truth - 1
    return Figure(
        name, error * 100, "%", f"within ±{tolerance * 100:.0f} %", abs(error) <= tolerance, **extra
    )


def fresh_python(code: str, *, timeout: float = 600) -> Any:
    """Run ``code`` in a new Python process; it must print one JSON value last."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cv(values: list[float]) -> float:
    """Coefficient of variation (sample standard deviation over mean)."""
    return statistics.stdev(values) / statistics.mean(values)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
