"""joblib calls made inside loky's worker processes.

The observer counts the ``Parallel`` calls the statement makes in the kernel; calls made by the
tasks inside the workers (a forest's own ``n_jobs`` inside ``cross_val_score``) happen out of
its sight. During a sweep, every loky worker pool is started with :func:`install` as its
initializer: each worker then appends one line per ``Parallel`` call (backend, effective
n_jobs, depth) to a file of its own, which :class:`WorkerCalls` reads after every timed run.

The initializer is part of loky's reuse key, so the user's next parallel call after the sweep
starts a fresh pool without it. A worker that outlives the folder just stops recording.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .backends import backend_name

__all__ = ["WorkerCall", "WorkerCalls", "install", "recording_in_workers"]


@dataclass(frozen=True)
class WorkerCall:
    """One ``joblib.Parallel`` call made inside a worker process."""

    pid: int
    backend: str
    n_jobs: int
    depth: int  # 0 for a call a task made directly, 1+ inside another call in that worker


def install(folder: str) -> None:
    """Run in each new worker (loky's initializer): record its ``Parallel`` calls."""
    from joblib.parallel import Parallel

    path = os.path.join(folder, f"{os.getpid()}.calls")
    original = Parallel.__call__
    local = threading.local()

    def recorded(parallel, iterable):
        depth = getattr(local, "depth", 0)
        try:
            n_jobs = int(parallel._effective_n_jobs())
        except Exception:  # an invalid n_jobs: let joblib raise its own error
            n_jobs = -1
        try:
            with open(path, "a", encoding="ascii") as handle:
                handle.write(f"{backend_name(parallel._backend)} {n_jobs} {depth}\n")
        except OSError:  # the sweep is over and its folder is gone
            pass
        local.depth = depth + 1
        try:
            return original(parallel, iterable)
        finally:
            local.depth = depth

    Parallel.__call__ = recorded


class WorkerCalls:
    """The calls recorded in a folder; :meth:`new` returns those since the last look."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._read: dict[str, int] = {}

    def new(self) -> list[WorkerCall]:
        calls = []
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            try:
                with open(path, encoding="ascii") as handle:
                    handle.seek(self._read.get(name, 0))
                    text = handle.read()
            except OSError:
                continue
            whole = text[: text.rfind("\n") + 1]  # a line being written is read next time
            self._read[name] = self._read.get(name, 0) + len(whole)
            pid = int(name.split(".")[0])
            for line in whole.splitlines():
                backend, n_jobs, depth = line.split()
                calls.append(WorkerCall(pid, backend, int(n_jobs), int(depth)))
        return calls


@contextmanager
def recording_in_workers() -> Iterator[WorkerCalls]:
    """Start every loky pool of the block with :func:`install` (unless the code gives an
    initializer of its own); joblib is put back and the folder removed on every path."""
    from joblib._parallel_backends import LokyBackend

    folder = tempfile.mkdtemp(prefix="parcompare-calls-")
    original = LokyBackend.configure

    def configure(backend, *args, **kwargs):
        if "initializer" not in kwargs and "initializer" not in backend.backend_kwargs:
            kwargs.update(initializer=install, initargs=(folder,))
        return original(backend, *args, **kwargs)

    LokyBackend.configure = configure
    try:
        yield WorkerCalls(folder)
    finally:
        LokyBackend.configure = original
        shutil.rmtree(folder, ignore_errors=True)
