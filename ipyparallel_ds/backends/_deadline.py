"""Deadlines for calls on a cluster, and what a spawned worker needs from ``__main__``."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["DeadlineExceeded", "deadline", "spawnable_main"]


class DeadlineExceeded(TimeoutError):
    """A call on a cluster did not finish within its deadline (``--timeout``)."""


@contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Interrupt the main thread when the body runs longer than ``seconds``.

    joblib waits for cluster results in the main thread; a real SIGINT sent to that thread
    stops the wait (a blocked wait too), and is turned into :class:`DeadlineExceeded` here.
    Python's own SIGINT handler is put in place for the duration if another was installed.
    Without a deadline, or off the main thread, the body just runs.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    lock = threading.Lock()
    state = {"done": False, "fired": False}
    main = threading.main_thread().ident

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                signal.pthread_kill(main, signal.SIGINT)

    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if state["fired"]:
            raise DeadlineExceeded(
                f"{what} did not finish within the {seconds:.0f} s deadline (--timeout)"
            ) from None
        raise
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
        if state["fired"]:
            _absorb_pending_interrupt()
        if previous is not signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)


@contextmanager
def spawnable_main() -> Iterator[None]:
    """Let multiprocessing's spawn start processes (a local dask cluster's workers).

    Spawn reads ``__main__.__spec__``; IPython's ``%reset`` clears the user module's
    namespace, ``__spec__`` included, and spawn then fails. The attribute is put back for
    the duration only, so the user namespace ends as it was.
    """
    main = sys.modules.get("__main__")
    missing = main is not None and not hasattr(main, "__spec__")
    if missing:
        main.__spec__ = None  # type: ignore[union-attr]
    try:
        yield
    finally:
        if missing:
            with suppress(AttributeError):
                del main.__spec__  # type: ignore[union-attr]


def _absorb_pending_interrupt() -> None:
    """The deadline fired just as the call finished: swallow the SIGINT it sent."""
    with suppress(KeyboardInterrupt):
        time.sleep(0.05)
