"""joblib's reusable loky worker pool: make it cold, and put it back as it was.

loky keeps one reusable process pool per process (``get_reusable_executor``). A first call on
a fresh pool pays for starting workers and importing scikit-learn in them; shutting the pool
down is the only way to measure that again. These helpers touch loky's module-level executor,
so they live in one place.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

# The pool this package left running, so that %unload_ext can shut it down.
_left_running: weakref.ref | None = None


def _current_executor():
    from joblib.externals.loky import reusable_executor

    return reusable_executor._executor


def _is_alive(executor) -> bool:
    if executor is None:
        return False
    flags = getattr(executor, "_flags", None)
    return flags is None or not (flags.shutdown or flags.broken)


def pool_is_alive() -> bool:
    """Whether joblib's reusable loky pool currently exists and accepts work."""
    return _is_alive(_current_executor())


def shutdown_pool() -> None:
    """Shut joblib's reusable loky pool down, waiting for its workers to exit."""
    executor = _current_executor()
    if _is_alive(executor):
        executor.shutdown(wait=True)


@contextmanager
def restoring_pool_state() -> Iterator[None]:
    """Leave no reusable pool running afterwards unless one was running before.

    A measurement has to restart the pool to time cold starts, so a pool that was running
    before cannot be kept: the measurement's last (warm) pool takes its place, or, if the
    statement started none, joblib starts one on its next parallel call.
    """
    global _left_running
    was_alive = pool_is_alive()
    try:
        yield
    finally:
        if was_alive:
            executor = _current_executor()
            _left_running = weakref.ref(executor) if _is_alive(executor) else None
        else:
            shutdown_pool()


def shutdown_pool_we_started() -> None:
    """Shut down the pool a measurement left running, if it is still the current one."""
    global _left_running
    executor = _left_running() if _left_running is not None else None
    _left_running = None
    if executor is not None and executor is _current_executor():
        shutdown_pool()
