"""Where the statement runs: the registry of backends.

One module per backend and one line in :data:`REGISTRY` per name. The option table's backend
list, the unknown-backend error, option checks and every backend trait the rest of the package
asks about come from here (see :mod:`.base` for the traits). Cluster packages (dask,
ipyparallel, ray) are imported only by the runner that needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._deadline import DeadlineExceeded, deadline
from .base import Runner
from .dask import DaskRunner
from .ipyparallel import IpyparallelRunner
from .local import LocalRunner, LokyRunner, MultiprocessingRunner, SerialRunner, ThreadingRunner
from .ray import RayRunner

__all__ = [
    "REGISTRY",
    "SERIAL",
    "DeadlineExceeded",
    "Runner",
    "backend_name",
    "close_all",
    "connect_options",
    "deadline",
    "make_runners",
    "names",
    "opened",
    "traits",
]

# name given with -b -> runner class, in the order the help text lists them.
REGISTRY: dict[str, type[Runner]] = {
    "loky": LokyRunner,
    "threading": ThreadingRunner,
    "multiprocessing": MultiprocessingRunner,
    "dask": DaskRunner,
    "ipyparallel": IpyparallelRunner,
    "ray": RayRunner,
}
# The backend name of the serial baseline shared by several backends.
SERIAL = SerialRunner.name
_KNOWN: dict[str, type[Runner]] = {**REGISTRY, SERIAL: SerialRunner}


def names(*, clusters: bool | None = None) -> tuple[str, ...]:
    """The backend names users can give; only the cluster ones, or only the local ones."""
    return tuple(n for n, c in REGISTRY.items() if clusters is None or c.is_cluster == clusters)


def connect_options() -> tuple[str, ...]:
    """Every option that connects a cluster backend to a running cluster, in registry order
    (``scheduler``, ``profile``, ...), each once."""
    return tuple(dict.fromkeys(o for runner in REGISTRY.values() for o in runner.connect_options))


def traits(name: str) -> type[Runner]:
    """The runner class whose traits describe backend ``name`` (a plain local backend for a
    name the registry does not know, such as one a user registered with joblib)."""
    return _KNOWN.get(name, LocalRunner)


def backend_name(backend: object) -> str:
    """The short name of a joblib backend object: ``LokyBackend`` -> ``loky``, ..."""
    class_name = type(backend).__name__
    for name, runner in _KNOWN.items():
        if runner.joblib_class == class_name:
            return name
    return (class_name.removesuffix("Backend")).lower()


def make_runners(plan: Any) -> list[Runner]:
    """The runners of a plan, in the order its backends were asked (nothing opened yet).

    No backend asked: joblib's active backend (what ``parallel_config`` says outside) runs.
    """
    if not plan.backends:
        from joblib.parallel import get_active_backend

        active = backend_name(get_active_backend()[0])
        runner = traits(active)
        if issubclass(runner, LocalRunner) and runner not in (LocalRunner, SerialRunner):
            return [runner(explicit=False)]
        return [LocalRunner(explicit=False, name=active)]
    return [REGISTRY[name].from_plan(plan) for name in plan.backends]


# Runners opened by a sweep that is still running, so that %unload_ext can stop them.
_open: list[Runner] = []


@contextmanager
def opened(runners: list[Runner]) -> Iterator[list[Runner]]:
    """Open every runner; close them all on every path (success, error, Ctrl-C)."""
    done: list[Runner] = []
    try:
        for runner in runners:
            _open.append(runner)
            done.append(runner)
            runner.open()
        yield runners
    finally:
        close_all(done)


def close_all(runners: list[Runner] | None = None) -> None:
    """Close runners (default: every one still open), each even if another fails."""
    targets = list(_open if runners is None else runners)
    errors = []
    for runner in reversed(targets):
        try:
            runner.close()
        except Exception as exc:  # keep closing the others
            errors.append(exc)
        finally:
            if runner in _open:
                _open.remove(runner)
    if errors:
        raise errors[0]
