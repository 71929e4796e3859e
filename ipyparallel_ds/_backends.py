"""Where the statement runs: joblib's local backends, and dask.distributed or ipyparallel
clusters.

A sweep measures *points*: a backend and a size. For the local backends (loky, threading,
multiprocessing) the size is n_jobs. joblib's dask and ipyparallel backends ignore n_jobs and
use every worker of the cluster (``effective_n_jobs`` is the cluster's thread or engine
count), so for them the size is the number of cluster workers, and the tool changes the
cluster to each size: a local cluster it started is scaled, an existing ipyparallel cluster
is used through a view of that many engines, an existing dask cluster is measured at its size.

Each runner hands out joblib's configuration for a point (always a context manager, so it is
restored on every path), prepares the point (a cold start), and, for clusters, puts a
deadline on every call and cancels what is left on the cluster when a call is stopped.
dask and ipyparallel are imported only by the runner that needs them.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple

from ._options import SERIAL

# Extra seconds to wait for cluster workers to connect after a scale.
WORKER_WAIT_SECONDS = 120


class Point(NamedTuple):
    """One measured configuration: a backend and a size (n_jobs, or cluster workers)."""

    backend: str
    n_jobs: int


class DeadlineExceeded(TimeoutError):
    """A call on a cluster did not finish within its deadline (``--timeout``)."""


def resolve_size(value: int, usable: int) -> int:
    """n_jobs-style size for a local cluster: -1 is every usable core, -2 all but one."""
    return value if value > 0 else max(usable + 1 + value, 1)


# -- deadline ----------------------------------------------------------------------------------
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
def _spawnable_main() -> Iterator[None]:
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


# -- runners -----------------------------------------------------------------------------------
class Runner:
    """Runs the statement on one backend. Subclasses fill in the details."""

    name = ""
    is_cluster = False
    remote = False  # workers are not processes of this machine's kernel

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.info: dict[str, Any] = {}

    def open(self) -> None:
        """Start or connect to what the backend needs (nothing for local backends)."""

    def close(self) -> None:
        """Stop what :meth:`open` started. Safe to call more than once."""

    def sizes(self, values: tuple[int, ...], given: bool) -> list[int]:
        """The sizes to measure for the asked n_jobs ``values``."""
        return list(values)

    def workers(self, n_jobs: int) -> int:
        raise NotImplementedError

    def prepare(self, n_jobs: int) -> float:
        """Make the point cold; return the cluster start-up seconds (NaN for none)."""
        return math.nan

    def config(self, n_jobs: int, inner_threads: int | None = None):
        """joblib's configuration for the point, as a context manager; ``inner_threads``
        limits the BLAS/OpenMP threads of the backend's workers where it can."""
        raise NotImplementedError

    @contextmanager
    def guard(self, loops: int, timeout: float | None) -> Iterator[None]:
        """Around every call: nothing for local backends."""
        yield


class LocalRunner(Runner):
    """joblib's loky, threading or multiprocessing backend; ``name=None`` leaves joblib's
    active backend (whatever ``parallel_config`` says outside) in charge."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.explicit = name is not None
        if name is None:
            from joblib.parallel import get_active_backend

            from ._observe import backend_name

            name = backend_name(get_active_backend()[0])
        self.name = name
        self._workers: dict[int, int] = {}

    def workers(self, n_jobs: int) -> int:
        if n_jobs not in self._workers:
            from joblib import effective_n_jobs

            with self.config(n_jobs):
                self._workers[n_jobs] = int(effective_n_jobs(n_jobs))
        return self._workers[n_jobs]

    def prepare(self, n_jobs: int) -> float:
        if self.workers(n_jobs) > 1:
            from . import _pools

            _pools.shutdown_pool()
        return math.nan

    def config(self, n_jobs: int, inner_threads: int | None = None):
        from joblib import parallel_config

        if inner_threads is not None and self.name == "loky":
            return parallel_config(
                backend="loky", n_jobs=n_jobs, inner_max_num_threads=inner_threads
            )
        if self.explicit:
            return parallel_config(backend=self.name, n_jobs=n_jobs)
        return parallel_config(n_jobs=n_jobs)


class SerialRunner(LocalRunner):
    """The shared serial baseline when several backends are compared: n_jobs=1 runs the same
    sequential code in the kernel whatever the backend."""

    def __init__(self) -> None:
        super().__init__(None)
        self.name = SERIAL
        self.explicit = False

    def workers(self, n_jobs: int) -> int:
        return 1


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
            from .environment import usable_cores

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
    def guard(self, loops: int, timeout: float | None) -> Iterator[None]:
        before = self._outstanding()
        what = f"a run of {loops} call{'s' if loops != 1 else ''} on {self.describe()}"
        try:
            with deadline(None if timeout is None else timeout * loops, what):
                yield
        except (KeyboardInterrupt, DeadlineExceeded) as exc:
            cancelled = self._cancel(before)
            message = (
                f"{cancelled} outstanding task{'s' if cancelled != 1 else ''} "
                f"{'were' if cancelled != 1 else 'was'} cancelled"
            )
            if isinstance(exc, DeadlineExceeded):
                raise DeadlineExceeded(f"{exc}; {message}") from None
            self.notes.append(f"after the interrupt, {message} on {self.describe()}.")
            raise

    def describe(self) -> str:
        raise NotImplementedError

    def _outstanding(self) -> set:
        return set()

    def _cancel(self, before: set) -> int:
        return 0


class DaskRunner(ClusterRunner):
    """joblib's dask backend on a ``LocalCluster`` started here (``cluster="local"``) or on
    an existing scheduler (``scheduler="tcp://..."``)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, cluster: str | None = None) -> None:
        super().__init__(cluster)
        self.scheduler = scheduler
        self.cluster = None
        self.client = None

    def describe(self) -> str:
        where = "a local dask cluster" if self.local else f"the dask cluster at {self.scheduler}"
        return f"{where} ({self.size} worker thread{'s' if self.size != 1 else ''})"

    def open(self) -> None:
        import logging

        from distributed import Client, LocalCluster

        start = time.perf_counter()
        if self.local:
            with _spawnable_main():
                self.cluster = LocalCluster(
                    n_workers=0,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self.cluster, set_as_default=False)
            address = self.cluster.scheduler_address
        else:
            try:
                self.client = Client(self.scheduler, set_as_default=False, timeout="30s")
            except OSError as exc:
                raise ConnectionError(
                    f"could not connect to the dask scheduler at {self.scheduler} ({exc}); is "
                    "it running? (dask scheduler --host 127.0.0.1 --port 8786)"
                ) from exc
            address = self.scheduler
            self.size = self._threads()
        self.info = {
            "backend": "dask",
            "kind": "local" if self.local else "existing",
            "address": address,
            "startup": time.perf_counter() - start,
            "workers": self.size,
        }

    def _threads(self) -> int:
        return int(sum(self.client.ncores().values()))

    def _existing_sizes(self, values: tuple[int, ...], available: int) -> list[int]:
        asked = sorted({resolve_size(v, available) for v in values})
        if asked != [available]:
            self.notes.append(
                f"the dask cluster at {self.scheduler} has {available} worker thread"
                f"{'s' if available != 1 else ''} and cannot be scaled from here, so it was "
                f"measured at that size only (asked: {', '.join(map(str, asked))}); use "
                "--cluster local to compare sizes."
            )
        return [available]

    def workers(self, n_jobs: int) -> int:
        return n_jobs if self.local else self.size

    def prepare(self, n_jobs: int) -> float:
        """Retire every worker and start ``n_jobs`` fresh ones (local cluster), so that each
        size's first call meets cold workers; the seconds this took are its start-up."""
        if not self.local:
            return math.nan
        start = time.perf_counter()
        if self.size:
            self.cluster.scale(0)
            while self.client.scheduler_info(n_workers=-1)["workers"]:
                time.sleep(0.05)
        with _spawnable_main():
            self.cluster.scale(n_jobs)
            self.client.wait_for_workers(n_jobs, timeout=WORKER_WAIT_SECONDS)
        self.size = n_jobs
        self.info["workers"] = max(self.info.get("workers", 0), n_jobs)  # the largest size
        return time.perf_counter() - start

    def config(self, n_jobs: int, inner_threads: int | None = None):
        from joblib import parallel_config

        return parallel_config(backend="dask", client=self.client)

    def _outstanding(self) -> set:
        return set(self.client.futures) if self.client is not None else set()

    def _cancel(self, before: set) -> int:
        from distributed import Future

        keys = [k for k in self.client.futures if k not in before]
        if keys:
            self.client.cancel([Future(k, client=self.client) for k in keys], force=True)
        return len(keys)

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()


class IpyparallelRunner(ClusterRunner):
    """ipyparallel's joblib backend on a cluster of engines started here on 127.0.0.1
    (``cluster="local"``), or on an existing one found by profile and cluster id."""

    name = "ipyparallel"

    def __init__(
        self,
        cluster: str | None = None,
        profile: str | None = None,
        cluster_id: str | None = None,
    ) -> None:
        super().__init__(cluster)
        self.profile = profile
        self.cluster_id = cluster_id
        self.cluster = None
        self.client = None
        self._profile_dir: str | None = None
        self._views: dict[int, Any] = {}
        self._restore_pickle = False

    def describe(self) -> str:
        if self.local:
            where = "a local ipyparallel cluster"
        else:
            where = f"the ipyparallel cluster (profile {self.profile or 'default'}"
            where += f", cluster id {self.cluster_id})" if self.cluster_id else ")"
        return f"{where} ({self.size} engine{'s' if self.size != 1 else ''})"

    def open(self) -> None:
        import logging
        import tempfile

        import ipyparallel as ipp

        start = time.perf_counter()
        if self.local:
            # A throw-away profile: nothing is written to the user's ~/.ipython.
            self._profile_dir = tempfile.mkdtemp(prefix="parcompare-ipyparallel-")
            self.cluster = ipp.Cluster(
                n=0,
                profile_dir=self._profile_dir,
                controller_ip="127.0.0.1",
                log_level=logging.ERROR,
            )
            self.cluster.start_controller_sync()
            self.client = self.cluster.connect_client_sync()
            self._use_cloudpickle()
        else:
            kwargs = {"profile": self.profile or "default"}
            if self.cluster_id:
                kwargs["cluster_id"] = self.cluster_id
            try:
                self.client = ipp.Client(timeout=30, **kwargs)
            except (OSError, TimeoutError) as exc:
                which = f"profile {kwargs['profile']!r}"
                if self.cluster_id:
                    which += f" and cluster id {self.cluster_id!r}"
                raise ConnectionError(
                    f"could not connect to the ipyparallel cluster of {which} ({exc}); is it "
                    f"running? (ipcluster start --profile={kwargs['profile']})"
                ) from exc
            self.size = len(self.client.ids)
        self.info = {
            "backend": "ipyparallel",
            "kind": "local" if self.local else "existing",
            "profile": None if self.local else (self.profile or "default"),
            "cluster_id": self.cluster_id,
            "startup": time.perf_counter() - start,
            "workers": self.size,
        }

    def _existing_sizes(self, values: tuple[int, ...], available: int) -> list[int]:
        asked = []
        for value in values:
            size = resolve_size(value, available)
            if size not in asked:
                asked.append(size)
        too_big = [s for s in asked if s > available]
        if too_big:
            self.notes.append(
                f"the ipyparallel cluster has {available} engine{'s' if available != 1 else ''}"
                f", so size{'s' if len(too_big) > 1 else ''} {', '.join(map(str, too_big))} "
                "could not be measured; start more engines (ipcluster engines) to try them."
            )
        return [s for s in asked if s <= available] or [available]

    def prepare(self, n_jobs: int) -> float:
        """Local cluster: stop every engine and start ``n_jobs`` fresh ones; existing cluster:
        a view of its first ``n_jobs`` engines (no start-up)."""
        if not self.local:
            self.size = n_jobs
            return math.nan
        start = time.perf_counter()
        if self.cluster.engines:
            self.cluster.stop_engines_sync()
            while self.client.ids:
                time.sleep(0.05)
        self._views.clear()
        self.cluster.start_engines_sync(n=n_jobs)
        self.client.wait_for_engines(
            n_jobs, timeout=WORKER_WAIT_SECONDS, interactive=False, widget=False
        )
        if self._restore_pickle:  # fresh engines start with plain pickle
            from ipyparallel import serialize

            self.client[:].apply_sync(serialize.use_cloudpickle)
        self.size = n_jobs
        self.info["workers"] = max(self.info.get("workers", 0), n_jobs)  # the largest size
        return time.perf_counter() - start

    def _use_cloudpickle(self) -> None:
        """joblib sends closures and functions defined in the notebook, which plain pickle
        cannot; like ipyparallel's own joblib backend when it starts a cluster, use
        cloudpickle (when installed). It is the kernel's global setting for ipyparallel, so
        :meth:`close` puts plain pickle back if that is what was in use."""
        import pickle

        from ipyparallel import serialize
        from ipyparallel.serialize import serialize as state

        try:
            import cloudpickle  # noqa: F401
        except ImportError:
            return
        if state.pickle is pickle:
            serialize.use_cloudpickle()
            self._restore_pickle = True

    def _view(self, n_jobs: int):
        if n_jobs not in self._views:
            view = self.client.load_balanced_view(targets=list(self.client.ids[:n_jobs]))
            self._views[n_jobs] = view
        return self._views[n_jobs]

    def config(self, n_jobs: int, inner_threads: int | None = None):
        from ipyparallel.joblib import IPythonParallelBackend
        from joblib import parallel_config

        return parallel_config(backend=IPythonParallelBackend(view=self._view(n_jobs)))

    def _outstanding(self) -> set:
        return set(self.client.outstanding) if self.client is not None else set()

    def _cancel(self, before: set) -> int:
        jobs = [j for j in self.client.outstanding if j not in before]
        if jobs:
            self.client.abort(jobs=jobs, block=False)
            if self.local:  # our own engines: interrupt what is already running
                self.cluster.signal_engines_sync(signal.SIGINT)
        return len(jobs)

    def close(self) -> None:
        import shutil

        client, cluster, profile_dir = self.client, self.cluster, self._profile_dir
        self.client = self.cluster = self._profile_dir = None
        self._views.clear()
        if self._restore_pickle:
            from ipyparallel import serialize

            serialize.use_pickle()
            self._restore_pickle = False
        try:
            if client is not None:
                client.close()
        finally:
            try:
                if cluster is not None:
                    cluster.stop_cluster_sync()
            finally:
                if profile_dir is not None:
                    shutil.rmtree(profile_dir, ignore_errors=True)


def make_runners(plan: Any) -> list[Runner]:
    """The runners of a plan, in the order its backends were asked (nothing opened yet)."""
    runners: list[Runner] = []
    for name in plan.backends or (None,):
        if name == "dask":
            runners.append(DaskRunner(plan.scheduler, plan.cluster))
        elif name == "ipyparallel":
            runners.append(IpyparallelRunner(plan.cluster, plan.profile, plan.cluster_id))
        else:
            runners.append(LocalRunner(name))
    return runners


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


__all__ = [
    "DeadlineExceeded",
    "Point",
    "Runner",
    "deadline",
    "make_runners",
    "opened",
]
