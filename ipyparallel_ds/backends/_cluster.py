"""What dask and ipyparallel share: sizes, and a deadline and cancellation around calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._events import TasksCancelled
from ..environment import usable_cores
from ._deadline import DeadlineExceeded, deadline
from .base import Runner, resolve_size

__all__ = ["ClusterRunner", "keeping_environ"]

# How long close() waits for a stopped cluster's processes to exit.
STOP_WAIT_SECONDS = 20


@contextmanager
def keeping_environ(before: dict[str, str] | None = None) -> Iterator[None]:
    """Put the kernel's environment variables back after the block, as they were on entering
    it (or as ``before``). A local dask cluster's nannies run in the kernel and set theirs
    (OMP_NUM_THREADS=1, PYTHONHASHSEED, ...) in ``os.environ`` each time they start a worker:
    left there, every process the kernel starts later (loky's workers) would inherit them."""
    import os

    before = dict(os.environ) if before is None else before
    try:
        yield
    finally:
        if dict(os.environ) != before:
            os.environ.clear()
            os.environ.update(before)


def _children() -> set[int]:
    import os

    import psutil

    return {child.pid for child in psutil.Process(os.getpid()).children(recursive=True)}


class ClusterRunner(Runner):
    """Shared by dask and ipyparallel: deadline and cancellation around every call."""

    is_cluster = True

    def __init__(self, cluster: str | None) -> None:
        super().__init__()
        self.local = cluster == "local"
        self.remote = not self.local  # an existing cluster's workers are not our children
        self.size = 0  # current number of workers

    def sizes(self, values: tuple[int, ...], given: bool) -> list[int]:
        if self.local:
            usable = usable_cores()
            sizes = []
            for value in values:
                size = resolve_size(value, usable)
                if size not in sizes:
                    sizes.append(size)
            return sizes
        available = self.size
        if not given:
            return [available]
        return self._existing_sizes(values, available)

    def _existing_sizes(self, values: tuple[int, ...], available: int) -> list[int]:
        return [available]

    def workers(self, n_jobs: int) -> int:
        return n_jobs

    @contextmanager
    def around_call(self, loops: int, timeout: float | None) -> Iterator[None]:
        before = self._outstanding()
        what = f"a run of {loops} call{'s' if loops != 1 else ''} on {self.describe()}"
        try:
            with deadline(None if timeout is None else timeout * loops, what):
                yield
        except (KeyboardInterrupt, DeadlineExceeded) as exc:
            cancelled = self._cancel(before)
            if isinstance(exc, DeadlineExceeded):
                message = (
                    f"{cancelled} outstanding task{'s' if cancelled != 1 else ''} "
                    f"{'were' if cancelled != 1 else 'was'} cancelled"
                )
                raise DeadlineExceeded(f"{exc}; {message}") from None
            self.events.append(TasksCancelled(cancelled, self.describe()))
            raise

    def describe(self) -> str:
        raise NotImplementedError

    # A stopped cluster's engines, nannies and workers exit on their own time: close() waits
    # for the processes started while the cluster was open, so that none outlives the call.
    def _note_processes(self) -> None:
        self._processes_before = _children()

    def _stopping(self) -> list:
        """The processes started since :meth:`_note_processes` (call before stopping)."""
        import psutil

        before = getattr(self, "_processes_before", None)
        if before is None:
            return []
        started = []
        for pid in _children() - before:
            try:
                started.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        return started

    @staticmethod
    def _await(processes: list) -> None:
        import psutil

        psutil.wait_procs(processes, timeout=STOP_WAIT_SECONDS)

    def _outstanding(self) -> set:
        return set()

    def _cancel(self, before: set) -> int:
        return 0
