"""ipyparallel_ds: does running scikit-learn on several cores pay off on this machine?

In IPython or Jupyter::

    %load_ext ipyparallel_ds
    %parcompare cross_val_score(SVC(), X, y, cv=20)

From Python::

    from ipyparallel_ds import parcompare
    result = parcompare("cross_val_score(SVC(), X, y, cv=20)", n_jobs=[1, 2])

Importing this package is cheap and changes nothing: joblib, scikit-learn and IPython's magic
machinery are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .api import parcompare
    from .result import ConfigTiming, ParCompareResult

__all__ = [
    "ConfigTiming",
    "ParCompareResult",
    "__version__",
    "load_ipython_extension",
    "parcompare",
    "unload_ipython_extension",
]

_LAZY = {
    "parcompare": "api",
    "ConfigTiming": "result",
    "ParCompareResult": "result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext ipyparallel_ds``: register ``%parcompare``."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Called by ``%unload_ext ipyparallel_ds``: remove the magics, stop pools we started."""
    from .magics import unload

    unload(ipython)
