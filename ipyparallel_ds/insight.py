"""From measurements to advice: how the statement scales, which n_jobs to use, and a verdict.

Pure functions of measured data; nothing here runs or times anything. Every sentence the
verdict contains is computed from the numbers it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result import ConfigTiming

__all__ = ["Scaling", "break_even_calls", "fit_scaling", "recommended_config"]

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


def _points(configs: Sequence[ConfigTiming]) -> list[tuple[int, float]]:
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
    points = _points(configs)
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


def what_ran(
    configs: Sequence[ConfigTiming],
    *,
    preset: dict[str, object] | None = None,
    setup_n_jobs_keywords: int = 0,
    nested_n_jobs: bool = False,
) -> tuple[list[str], str]:
    """Warnings about what really ran, and why n_jobs had no effect ("" when it had one).

    Parameters
    ----------
    configs : ConfigTiming sequence with the observed fields filled in.
    preset : {name: n_jobs}
        Objects the statement uses whose n_jobs was set before it (not rewritable).
    setup_n_jobs_keywords : int
        ``n_jobs=`` keywords in the setup code (not rewritten).
    nested_n_jobs : bool
        Whether the statement sets n_jobs on a call nested in another call that sets it.
    """
    warnings: list[str] = []
    reasons: list[str] = []
    observed = [c for c in configs if c.parallel_calls is not None and c.timings]
    parallel = [c for c in observed if c.workers > 1]
    if preset:
        named = ", ".join(f"{name} (n_jobs={value})" for name, value in preset.items())
        warnings.append(
            f"the statement uses {named}, built before it with n_jobs set; %parcompare cannot "
            "change that, so those calls ran with the same n_jobs at every value. Build the "
            "object inside the statement, or leave its n_jobs unset."
        )
    seen = {tuple(c.effective_n_jobs) for c in observed if c.parallel_calls}
    if (
        preset
        and len(observed) > 1
        and len(seen) == 1
        and len(observed) == len([c for c in observed if c.parallel_calls])
    ):
        reasons.append("n_jobs was fixed on an object built before the statement")
    if setup_n_jobs_keywords:
        warnings.append(
            "the setup code sets n_jobs=, which %parcompare does not rewrite (only the timed "
            "statement's n_jobs= keywords are); objects built there keep that value."
        )
    if observed and all(c.parallel_calls == 0 for c in observed):
        if len(observed) > 1:
            reasons.append("the statement made no joblib parallel call")
            lead = "n_jobs had no effect: the statement made no joblib parallel call, so "
            lead += "every n_jobs value ran the same serial code and the differences are noise."
        else:
            lead = "the statement made no joblib parallel call, so no n_jobs can change it."
        warnings.append(
            f"{lead} Only code that runs through joblib (n_jobs in scikit-learn) can use "
            "more cores."
        )
    elif parallel:
        ignored = [c for c in parallel if c.parallel_calls and set(c.effective_n_jobs) == {1}]
        if len(ignored) == len(parallel):
            threads = any("threading" in c.backend_used for c in ignored)
            reasons.append("joblib ran the statement's parallel calls with one worker")
            values = ", ".join(c.name for c in ignored)
            text = f"at {values} joblib ran the statement's parallel calls sequentially"
            if threads:
                text += (
                    ": the code asks joblib for threads (as RandomForest's fit does) and "
                    "leaves n_jobs unset, and joblib then uses one thread whatever "
                    "parallel_config says. To make it parallel, pass n_jobs to the estimator "
                    "in the statement, e.g. RandomForestClassifier(n_jobs=-1), which "
                    "%parcompare rewrites to each value, or choose the threading backend with "
                    "joblib.parallel_config(backend='threading')."
                )
            else:
                text += ": n_jobs did not reach them (an n_jobs fixed elsewhere wins)."
            warnings.append(text)
    for c in parallel:
        if c.pool_changed and c.backend != "multiprocessing":  # which starts a pool per call
            warnings.append(
                f"the worker processes changed during the timed runs at {c.name} "
                "(a worker exited: idle timeout, memory limit or crash), so some runs paid "
                "for starting workers again."
            )
        if c.workers_used is not None and c.workers_used > c.workers:
            warnings.append(
                f"nested parallelism: at {c.name}, {c.workers_used} processes or "
                f"threads did work for {c.workers} requested workers, more than the "
                f"{c.workers} cores asked for. Set n_jobs on one level only."
            )
    if nested_n_jobs and not any("nested parallelism" in w for w in warnings):
        warnings.append(
            "nested parallelism: the statement sets n_jobs on a call inside another call "
            "that sets it, so each value k can run up to k x k workers at once (each "
            "rewritten to k). Set n_jobs on one level only."
        )
    return warnings, "; ".join(reasons)


# Fitted attributes that summarise an estimator cheaply; properties are included on purpose
# (feature_importances_ differs between two unseeded random forests, classes_ does not).
_FITTED_SUMMARY = (
    "coef_",
    "intercept_",
    "feature_importances_",
    "cluster_centers_",
    "components_",
    "dual_coef_",
    "best_score_",
    "best_params_",
)


def _is_timing(name: str) -> bool:
    """Names scikit-learn gives to measured durations: ``fit_time``, ``refit_time_``,
    ``mean_score_time``, ..."""
    return name.endswith("_time")


def same_result(a: object, b: object) -> bool:
    """Whether two results of the statement are the same.

    numpy arrays (and lists of numbers) by ``allclose``; scikit-learn estimators by their
    fitted attributes where that is cheap; anything else by ``==``.
    """
    import numpy as np

    if a is b:
        return True
    if hasattr(a, "get_params") and type(a) is type(b):
        names = [
            n
            for n in vars(a)
            if n.endswith("_") and not n.startswith("_") and not _is_timing(n.rstrip("_"))
        ]
        names += [n for n in _FITTED_SUMMARY if n not in names]
        for name in names:
            try:
                left, right = getattr(a, name), getattr(b, name)
            except Exception:  # a property that does not apply to this estimator
                continue
            if isinstance(left, (np.ndarray, int, float, str, tuple, dict)) and not same_result(
                left, right
            ):
                return False
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        # Timings (cross_validate's fit_time, cv_results_'s mean_fit_time) change every run.
        return a.keys() == b.keys() and all(
            same_result(a[k], b[k]) for k in a if not (isinstance(k, str) and _is_timing(k))
        )
    try:
        left, right = np.asarray(a), np.asarray(b)
        if left.dtype.kind in "fciub" and right.dtype.kind in "fciub":
            return left.shape == right.shape and bool(np.allclose(left, right, equal_nan=True))
    except Exception:  # not array-like
        pass
    try:
        return bool(a == b)
    except Exception:  # == that raises or returns something without a truth value
        return False


def compare_results(values: dict, baseline: object) -> tuple[bool | None, list]:
    """Compare each point's result with the baseline's: (all equal, differing points)."""
    if baseline not in values or len(values) < 2:
        return None, []
    differing = [
        k for k, v in values.items() if k != baseline and not same_result(values[baseline], v)
    ]
    return not differing, differing


# Environment variables that set BLAS/OpenMP thread counts; joblib respects a user's setting
# instead of its own per-worker limit.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def with_threads(
    config: ConfigTiming, report: dict[str, list] | None, nested_n_jobs: bool
) -> ConfigTiming:
    """``config`` with its thread report: threads per pool in the kernel and a worker, and how
    many could run at once: workers x inner threads x nested n_jobs (the inner value is
    rewritten to the same k)."""
    from dataclasses import replace

    if report is None:
        return config
    kernel = max((n for _, n in report["kernel"]), default=1)
    worker = max((n for _, n in report["worker"]), default=1) if report["worker"] else None
    threads_backend = "threading" in config.backend_used
    if config.workers <= 1 or config.backend_used.startswith("sequential"):
        total = kernel
    elif threads_backend:
        total = config.workers * kernel  # threads share the kernel's pools, without a limit
    else:
        workers = max(config.workers_used or config.workers, config.workers)
        total = workers * (worker or 1)
    if nested_n_jobs and config.workers > 1:
        total *= abs(config.n_jobs) if config.n_jobs > 0 else config.workers
    return replace(
        config,
        thread_pools={k: [list(p) for p in v] for k, v in report.items()},
        kernel_threads=kernel,
        worker_threads=worker,
        total_threads=total,
    )


def thread_warnings(
    configs: Sequence[ConfigTiming],
    *,
    usable: int | None = None,
    inner_threads: int | None = None,
    nested_n_jobs: bool = False,
    environ: dict[str, str] | None = None,
) -> list[str]:
    """A warning per value whose threads exceed the usable cores, naming the causes."""
    import os

    if usable is None:
        from .environment import usable_cores

        usable = usable_cores()
    env = os.environ if environ is None else environ
    user_set = [f"{name}={env[name]}" for name in THREAD_VARIABLES if name in env]
    warnings = []
    for c in configs:
        if c.total_threads is None or c.total_threads <= usable or c.workers <= 1:
            continue
        causes = []
        if user_set and inner_threads is None:
            causes.append(f"you set {', '.join(user_set)}, which overrides joblib's limit")
        if "threading" in c.backend_used:
            causes.append("the threading backend does not limit BLAS/OpenMP threads")
        if nested_n_jobs or (c.workers_used or 0) > c.workers:
            causes.append("n_jobs is nested, so workers start workers of their own")
        if c.workers > usable:
            causes.append(f"{c.workers} workers were asked for on {usable} usable cores")
        if c.worker_threads and c.worker_threads > 1 and not causes:
            causes.append(f"each worker runs {c.worker_threads} BLAS/OpenMP threads")
        fix = (
            "start the cluster's workers with OMP_NUM_THREADS=1 (--inner-threads limits only "
            "the kernel there)"
            if c.on_cluster
            else "try --inner-threads 1 (or auto)"
        )
        warnings.append(
            f"oversubscription at {c.name}: up to {c.total_threads} threads could run "
            f"at once on {usable} usable cores ({'; '.join(causes) or 'cause unknown'}). Too "
            f"many threads slow each other down; {fix}."
        )
    return warnings
