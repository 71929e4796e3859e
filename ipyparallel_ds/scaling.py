"""How the statement scales, from measured points: the fitted model, the recommended n_jobs
and when a start-up pays back.

Pure functions of measured data; nothing here runs or times anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .timing import ConfigTiming

__all__ = ["Scaling", "break_even_calls", "fit_scaling", "karp_flatt", "recommended_config"]

# Values within this share of the best warm median count as "as fast".
NEAR_BEST = 0.05


@dataclass(frozen=True)
class Scaling:
    """Amdahl's law with a per-worker overhead, fitted to warm times.

    ``T(p) = T1 * (s + (1 - s) / p) + c * (p - 1)``, where ``s`` is the serial fraction and
    ``c`` the overhead each extra worker adds (seconds per call).

    Attributes
    ----------
    serial_fraction : float
        ``s``, between 0 and 1.
    overhead_per_worker : float
        ``c`` in seconds (0 when it could not be fitted).
    t1 : float
        Time of one call with one worker (measured, or fitted when 1 was not measured).
    residual : float
        Root-mean-square relative error of the fitted times against the measured ones.
    points : tuple of (workers, seconds)
        The warm medians the fit used.
    karp_flatt : tuple of (workers, serial fraction)
        The Karp-Flatt serial fraction of each measured point with more than one worker,
        a cross-check of ``serial_fraction`` that needs no model.
    note : str
        How the fit was made, in words (e.g. too few points for the overhead term).
    """

    serial_fraction: float
    overhead_per_worker: float
    t1: float
    residual: float
    points: tuple[tuple[int, float], ...]
    karp_flatt: tuple[tuple[int, float], ...] = ()
    note: str = ""
    fitted_overhead: bool = field(default=False)

    @property
    def explains_data(self) -> bool:
        """Whether the model fits the measurements well enough to be shown or quoted: within
        10 % (RMS) of the measured times, and not pinned at s = 1, which is how a slowdown
        (overhead the two-point fit cannot separate) shows up."""
        return self.residual < 0.1 and self.serial_fraction < 0.99

    @property
    def max_speedup(self) -> float:
        """``1 / s``: the limit of the speedup as workers grow, ignoring overhead."""
        return math.inf if self.serial_fraction <= 0 else 1.0 / self.serial_fraction

    def time(self, workers: float) -> float:
        """Predicted seconds per call with ``workers`` workers."""
        s, c = self.serial_fraction, self.overhead_per_worker
        return self.t1 * (s + (1.0 - s) / workers) + c * (workers - 1.0)

    def predict(self, workers: float) -> float:
        """Predicted speedup over one worker with ``workers`` workers."""
        return self.t1 / self.time(workers)

    def to_dict(self) -> dict:
        return {
            "serial_fraction": self.serial_fraction,
            "overhead_per_worker": self.overhead_per_worker,
            "t1": self.t1,
            "max_speedup": None if math.isinf(self.max_speedup) else self.max_speedup,
            "residual": self.residual,
            "points": [list(p) for p in self.points],
            "karp_flatt": [list(p) for p in self.karp_flatt],
            "note": self.note,
        }


def karp_flatt(speedup: float, workers: int) -> float:
    """Experimentally determined serial fraction: ``(1/S - 1/p) / (1 - 1/p)``."""
    return (1.0 / speedup - 1.0 / workers) / (1.0 - 1.0 / workers)


def _warm_points(configs: Sequence[ConfigTiming]) -> list[tuple[int, float]]:
    """Warm median per distinct worker count (the mean where values share a count)."""
    by_workers: dict[int, list[float]] = {}
    for c in configs:
        if c.timings:
            by_workers.setdefault(c.workers, []).append(c.median)
    return sorted((w, sum(ts) / len(ts)) for w, ts in by_workers.items())


def fit_scaling(configs: Sequence[ConfigTiming]) -> Scaling | None:
    """Fit the scaling model to the warm medians; None with fewer than two worker counts.

    With three or more worker counts, ``s`` and ``c`` are fitted by least squares on relative
    errors (and ``T1`` too when one worker was not measured). With two, only ``s`` is
    determined and ``c`` is taken as 0, and the note says so.
    """
    points = _warm_points(configs)
    if len(points) < 2:
        return None
    measured_t1 = dict(points).get(1)
    kf = []
    if measured_t1:
        kf = [(w, karp_flatt(measured_t1 / t, w)) for w, t in points if w > 1]

    if len(points) == 2:
        (p0, t0), (p1, t1) = points
        # With T(p) = T1 (s + (1 - s)/p): the ratio of two points fixes s (and then T1).
        # T(p) = T1 (1 - u a_p) with u = 1 - s and a_p = 1 - 1/p, so for r = T(p1) / T(p0):
        # u = (1 - r) / (a_p1 - r a_p0).
        ratio = t1 / t0
        a0, a1 = 1.0 - 1.0 / p0, 1.0 - 1.0 / p1
        u = (1.0 - ratio) / (a1 - ratio * a0)
        s = min(max(1.0 - u, 0.0), 1.0)
        base = t0 / (s + (1.0 - s) / p0)
        model = Scaling(s, 0.0, base, 0.0, tuple(points), tuple(kf))
        return _with_residual(
            model,
            "two worker counts determine the serial fraction only; the per-worker overhead "
            "is taken as 0 (measure a third n_jobs value to fit it)",
        )

    import numpy as np
    from scipy.optimize import least_squares

    ps = np.array([p for p, _ in points], dtype=float)
    ts = np.array([t for _, t in points], dtype=float)

    def times(params):
        s, c, base = params
        return base * (s + (1.0 - s) / ps) + c * (ps - 1.0)

    start_t1 = measured_t1 if measured_t1 else ts[0] * ps[0]
    fixed = measured_t1 is not None

    def residuals(params):
        full = (*params, measured_t1) if fixed else params
        return times(full) / ts - 1.0

    x0 = [0.1, 0.0] + ([] if fixed else [start_t1])
    lower = [0.0, 0.0] + ([] if fixed else [0.0])
    upper = [1.0, np.inf] + ([] if fixed else [np.inf])
    solution = least_squares(residuals, x0, bounds=(lower, upper), x_scale="jac")
    s, c = float(solution.x[0]), float(solution.x[1])
    base = float(measured_t1 if fixed else solution.x[2])
    model = Scaling(s, c, base, 0.0, tuple(points), tuple(kf), fitted_overhead=True)
    return _with_residual(model, f"least-squares fit on {len(points)} worker counts")


def _with_residual(model: Scaling, note: str) -> Scaling:
    errors = [(model.time(p) / t - 1.0) ** 2 for p, t in model.points]
    rms = math.sqrt(sum(errors) / len(errors))
    return Scaling(
        model.serial_fraction,
        model.overhead_per_worker,
        model.t1,
        rms,
        model.points,
        model.karp_flatt,
        note,
        model.fitted_overhead,
    )


def recommended_config(configs: Sequence[ConfigTiming]) -> ConfigTiming | None:
    """The value with the fewest workers within 5 % of the fastest.

    Speed is the measured speedup (each value against the baseline runs paired with its own,
    as in the table), or the inverse warm median where no speedup was computed.
    """
    # A one-worker cluster runs the tasks in the kernel (joblib's sequential fallback): the
    # same code as the serial baseline, so never a choice of its own.
    measured = [c for c in configs if c.timings and not (c.on_cluster and c.workers <= 1)]
    if not measured:
        return None
    by_speedup = all(not math.isnan(c.speedup) for c in measured)

    def speed(c: ConfigTiming) -> float:
        return c.speedup if by_speedup else 1.0 / c.median

    best = max(speed(c) for c in measured)
    near = [c for c in measured if speed(c) * (1.0 + NEAR_BEST) >= best]
    # Fewest workers first; at equal workers the kernel's own (local) runs before a cluster.
    return min(near, key=lambda c: (c.workers, c.on_cluster, abs(c.n_jobs), c.median))


def break_even_calls(config: ConfigTiming, baseline: ConfigTiming) -> int | None:
    """Calls after which ``config`` has paid back its first-call start-up cost.

    The start-up cost is the first call's excess over a warm call; each later call saves the
    difference of the warm medians, taken from the speedup (against the baseline runs paired
    with this value's) when there is one. None means never (no saving per call).
    """
    if math.isnan(config.speedup):
        saving = baseline.median - config.median
    else:
        saving = config.median * (config.speedup - 1.0)
    if not config.timings or not baseline.timings or not saving > 0:
        return None
    startup = max(config.first_call - config.median, 0.0)
    return max(math.ceil(startup / saving), 1)
