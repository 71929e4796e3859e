"""The data-size sweep (``--data X,y --sizes 0.1,0.3,1``): the same n_jobs sweep on nested
subsets of the named arrays.

The rows are drawn once, by a seeded shuffle of every row, so that class-sorted data (iris)
still gives every class at small sizes; a size of ``k`` rows takes the first ``k`` of that
order, so that smaller subsets are inside larger ones and every n_jobs value of a size runs
on the same rows. The statement sees the subsets under the arrays' names, in a shallow copy
of its namespace: the user's arrays and namespace are never changed. Each size is a whole
sweep of :func:`ipyparallel_ds.api.run`, which the caller passes in (``run_one``), smallest
size first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .plan import Plan
from .result import ParCompareResult

__all__ = ["SEED", "DataError", "row_counts", "run_sizes", "subset"]

SEED = 0  # the shuffle's seed: the same rows at every run


class DataError(ValueError):
    """``--data`` names arrays that are missing or of different lengths, or ``--sizes`` asks
    more rows than they have (raised before anything runs)."""


def _length(name: str, value: Any) -> int:
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(value)
    except TypeError:
        raise DataError(
            f"--data: {name} is a {type(value).__name__}, which has no rows to cut"
        ) from None


def data_rows(namespace: dict[str, Any], names: Sequence[str]) -> int:
    """The rows the named arrays share along their first axis."""
    lengths = {}
    for name in names:
        if name not in namespace:
            raise DataError(f"--data: there is no variable named {name!r} in the namespace")
        lengths[name] = _length(name, namespace[name])
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise DataError(f"--data: the arrays differ in length along the first axis ({shown})")
    rows = next(iter(lengths.values()))
    if rows < 1:
        raise DataError(f"--data: {names[0]} has no rows")
    return rows


def row_counts(sizes: Sequence[float | int], rows: int) -> list[int]:
    """Row counts of the sizes, smallest first: a fraction is rounded (at least one row), a
    count must not exceed the rows."""
    counts = []
    for size in sizes:
        if isinstance(size, float):
            count = max(1, round(size * rows))
        elif size > rows:
            raise DataError(f"--sizes {size} is more rows than the data has ({rows})")
        else:
            count = size
        if count not in counts:
            counts.append(count)
    return sorted(counts)


def subset(value: Any, index: Any) -> Any:
    """The rows ``index`` of an array, a DataFrame or Series (by position), a sparse matrix
    or a list; always a new object."""
    if hasattr(value, "iloc"):
        return value.iloc[index]
    if isinstance(value, (list, tuple)):
        return type(value)(value[i] for i in index)
    return value[index]


def _order(rows: int):
    import numpy as np

    return np.random.default_rng(SEED).permutation(rows)


def run_sizes(
    plan: Plan,
    namespace: dict[str, Any],
    run_one: Callable[[Plan, dict[str, Any]], ParCompareResult],
) -> tuple[ParCompareResult, bool]:
    """Measure every size; the result is the largest size's, with every size's configs in
    ``size_configs``, and whether Ctrl-C stopped it. ``run_one`` raises KeyboardInterrupt on
    Ctrl-C, with the partial result as its ``result`` when something was measured; the sizes
    before it are kept. With a budget, each size gets an equal share of what is left."""
    rows = data_rows(namespace, plan.data)
    counts = row_counts(plan.sizes, rows)
    order = _order(rows)
    done: list[ParCompareResult] = []
    spent = 0.0
    for position, count in enumerate(counts):
        share = None
        if plan.budget is not None:
            share = max((plan.budget - spent) / (len(counts) - position), 1e-3)
        local = dict(namespace)
        for name in plan.data:
            local[name] = subset(namespace[name], order[:count])
        one = replace(plan, data=(), sizes=(), budget=share)
        try:
            result = run_one(one, local)
        except KeyboardInterrupt as stop:
            partial = getattr(stop, "result", None)
            if partial is not None:
                done.append(_with_rows(partial, count))
            if not done:
                raise
            return _combined(done, rows, plan.budget, spent, plan.data), True
        except Exception as exc:  # the statement failed at this size: say which
            if hasattr(exc, "add_note"):
                exc.add_note(f"(at {count} of the {rows} rows of --data {','.join(plan.data)})")
            raise
        done.append(_with_rows(result, count))
        spent += 0.0 if math.isnan(result.sweep_seconds) else result.sweep_seconds
        if result.interrupted:  # a worker died: the sizes after it would fail alike
            break
    return _combined(done, rows, plan.budget, spent, plan.data), False


def _with_rows(result: ParCompareResult, count: int) -> ParCompareResult:
    return replace(result, configs=[replace(c, rows=count) for c in result.configs])


def _combined(
    done: list[ParCompareResult],
    rows: int,
    budget: float | None,
    spent: float,
    names: tuple[str, ...],
) -> ParCompareResult:
    last = done[-1]
    warnings = [f"at {r.configs[0].rows} rows: {w}" for r in done[:-1] for w in r.warnings]
    return replace(
        last,
        size_configs=[c for r in done for c in r.configs],
        data_rows=rows,
        data_names=names,
        warnings=[*last.warnings, *warnings],
        budget=budget,
        sweep_seconds=spent,
        interrupted=any(r.interrupted for r in done),
    )
