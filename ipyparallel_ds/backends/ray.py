"""joblib's Ray backend (``ray.util.joblib``) on a Ray instance started here, or on a running
Ray cluster. ``ray`` is imported only when the runner opens.

A local instance (``cluster="local"``) has no dashboard and a throw-away temporary directory.
Ray gives it the machine's IP address even when told 127.0.0.1, its servers listen on every
interface, and ``ray.init`` protects it with Ray's token authentication. Ray cannot change the
CPUs of a running instance, so each size is a new instance with that many CPUs, whose start-up
is the point's cluster start-up. ``address="HOST:PORT"`` connects to a running cluster (this
machine one of its nodes) as ``ray.init(address=...)`` does, token authentication included
(``RAY_AUTH_MODE``), and measures it at its size, its CPU count.

Ray's joblib backend is joblib's multiprocessing backend on a pool of Ray actors: every
``Parallel`` call starts n_jobs actors (worker processes) and kills them when it returns. So
n_jobs is the size, and warm calls pay for starting actors too.

What ``ray.init`` changes in the kernel (environment variables, the SIGTERM handler,
``faulthandler``, ``sys.excepthook``, the ``ray`` logger's level) is put back on closing. The
backend swaps the base class of joblib's ``PicklingPool`` for Ray's pool in every call, which
would send a later multiprocessing call to Ray: it is put back after each call.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from .._events import MeasuredAtItsSize
from .._format import plural
from ._cluster import STOP_WAIT_SECONDS, ClusterRunner, keeping_environ
from .base import resolve_size

__all__ = ["RayRunner"]

# Seconds to reach a running cluster's head, and to wait for an instance's killed processes.
CONNECT_SECONDS = KILL_WAIT_SECONDS = 5.0


class RayRunner(ClusterRunner):
    """joblib's Ray backend on a Ray instance started here (``cluster="local"``), resized by a
    restart for each size, or on a running cluster (``address="HOST:PORT"``)."""

    name = "ray"
    joblib_class = "RayBackend"
    pool_per_call = True  # Ray's backend starts its actors in every call
    requires = ("ray", "ipyparallel-ds[ray]")
    connect_options = ("address",)
    connect_example = "--address HOST:6379"
    connect_hint = "--address is the address of a running Ray cluster: add --backend ray"

    def __init__(self, address: str | None = None, cluster: str | None = None) -> None:
        super().__init__(cluster)
        self.address = address
        self._connected = False  # this runner called ray.init and has not shut it down
        self._kernel: _KernelState | None = None
        self._temp_dir: str | None = None
        self._processes: list = []  # what this runner's ray.init started (psutil.Process)
        self._in_flight: set[object] = set()  # a token per batch sent and not back yet
        self._backends: list[Any] = []  # joblib backends of the calls running now

    @classmethod
    def from_plan(cls, plan: Any) -> RayRunner:
        return cls(plan.address, plan.cluster)

    @classmethod
    def check_connect(cls, values: dict[str, object]) -> None:
        address = values.get("address")
        if address is not None and _host_port(address) is None:
            raise ValueError(
                "--address needs a Ray cluster's address HOST:PORT, like 127.0.0.1:6379 (ray "
                "start --head prints it; ray:// client addresses cannot run joblib's Ray "
                f"backend); got {address!r}"
            )

    def describe(self) -> str:
        where = "a local Ray instance" if self.local else f"the Ray cluster at {self.address}"
        return f"{where} ({plural(self.size, 'CPU')})"

    def open(self) -> None:
        import tempfile

        start = time.perf_counter()
        import ray

        self._kernel = _KernelState()
        if ray.is_initialized():
            raise ConnectionError(
                "Ray is already initialized in this kernel (ray.init was called before): "
                "call ray.shutdown() first; %parcompare starts Ray itself (--cluster local) "
                "or connects to a running cluster (--address)"
            )
        if self.local:
            self._temp_dir = tempfile.mkdtemp(prefix="parcompare-ray-")
        else:
            self._connect()
            self.size = self._cpus()
        self.info = {
            "backend": "ray",
            "kind": "local" if self.local else "existing",
            "address": None if self.local else self.address,
            "startup": time.perf_counter() - start,
            "workers": self.size,
            "version": ray.__version__,
        }

    def _connect(self) -> None:
        import socket

        host, _, port = str(self.address).rpartition(":")  # HOST:PORT, as checked
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
        except OSError as exc:
            raise ConnectionError(
                f"could not connect to the Ray cluster at {self.address} ({exc}); is it "
                f"running? (ray start --head --port {port})"
            ) from exc
        try:
            self._init(address=self.address)
        except Exception as exc:
            if _refused_token(exc):
                raise ConnectionError(
                    f"the Ray cluster at {self.address} uses token authentication and refused "
                    "this kernel: set RAY_AUTH_MODE=token in the kernel's environment (Ray "
                    "reads the token from ~/.ray/auth_token or RAY_AUTH_TOKEN), as for "
                    "ray.init(address=...)"
                ) from exc
            raise ConnectionError(
                f"could not connect to the Ray cluster at {self.address}: {exc}"
            ) from exc

    def _init(self, **kwargs: Any) -> None:
        """``ray.init`` with Ray's start-up messages and worker logs kept out of the output;
        the processes it starts are noted, so that :meth:`_shutdown` can make sure of them."""
        import ray

        self._connected = True
        self._note_processes()
        try:
            with keeping_environ():  # ray.init sets PYTHONBREAKPOINT in the kernel
                # The processes started here inherit it: a measurement reports no usage data.
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                _reload_ray_config()  # RAY_AUTH_MODE as the kernel has it now
                ray.init(log_to_driver=False, logging_level=logging.ERROR, **kwargs)
        finally:
            self._processes.extend(_rays(self._stopping()))

    def _cpus(self) -> int:
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise ConnectionError(f"the Ray cluster at {self.address} has no CPU to run tasks")
        return cpus

    def _existing_sizes(self, values: tuple[int, ...], available: int) -> list[int]:
        asked = sorted({resolve_size(v, available) for v in values})
        if asked != [available]:
            event = MeasuredAtItsSize(str(self.address), available, tuple(asked), self.name, "CPU")
            self.events.append(event)
        return [available]

    def make_cold(self, n_jobs: int) -> float:
        """Local instance: stop it and start one with ``n_jobs`` CPUs, whose start-up seconds
        are returned (Ray cannot resize a running instance). Running cluster: nothing to do,
        every call starts its actors anyway."""
        if not self.local:
            return math.nan
        import ray

        self._shutdown()
        start = time.perf_counter()
        self._init(
            address="local",  # a new instance, whatever RAY_ADDRESS or `ray start` say
            num_cpus=n_jobs,
            num_gpus=0,
            include_dashboard=False,
            _temp_dir=self._temp_dir,
        )
        seconds = time.perf_counter() - start
        self.size = n_jobs
        self.info["address"] = ray.get_runtime_context().gcs_address
        self.info["workers"] = max(self.info.get("workers", 0), n_jobs)  # the largest size
        return seconds

    @contextmanager
    def config(self, n_jobs: int, inner_threads: int | None = None) -> Iterator[None]:
        """joblib's Ray backend with ``n_jobs`` actors per call. On a running cluster, whose
        workers may lack this package, the pools get no initializer that records calls."""
        import ray
        from joblib import parallel_config
        from joblib.pool import PicklingPool

        if not ray.is_initialized():
            raise ConnectionError(f"{self.describe()} is no longer connected")
        backend = _backend_class()(**({} if self.local else {"initializer": None}))
        backend.in_flight = self._in_flight
        bases = PicklingPool.__bases__
        self._backends.append(backend)
        try:
            with parallel_config(backend=backend, n_jobs=n_jobs):
                yield
        finally:
            if backend in self._backends:  # not when close() came first (%unload_ext)
                self._backends.remove(backend)
            if PicklingPool.__bases__ != bases:
                PicklingPool.__bases__ = bases

    def run_on_workers(self, function, *args) -> list | None:
        """None for a local instance: its actors are this kernel's processes, and their pools
        record calls from the start, as a local pool's do. A running cluster's actors live for
        one call on machines that may not have this package: they are not observed."""
        if self.local:
            return None
        raise RuntimeError("the actors of a running Ray cluster are not observed")

    def _outstanding(self) -> set:
        return set(self._in_flight)

    def _cancel(self, before: set) -> int:
        """Kill the actors of the calls still running (joblib usually has, when the call was
        stopped); the batches they had not returned are the cancelled tasks."""
        for backend in list(self._backends):
            with suppress(Exception):  # a pool that is gone already
                backend.terminate()
        cancelled = self._in_flight - before
        self._in_flight.difference_update(cancelled)
        return len(cancelled)

    def _shutdown(self) -> None:
        """Disconnect from Ray, which stops an instance started here; make sure every process
        that instance had is gone (killed if it outlives the wait)."""
        import psutil
        import ray

        if not self._connected:
            return
        processes = _with_descendants(self._processes)
        self._connected, self._processes = False, []
        try:
            ray.shutdown()
        finally:
            _, alive = psutil.wait_procs(processes, timeout=STOP_WAIT_SECONDS)
            for process in alive:
                with suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(alive, timeout=KILL_WAIT_SECONDS)

    def close(self) -> None:
        import shutil

        kernel, temp_dir = self._kernel, self._temp_dir
        self._kernel = self._temp_dir = None
        self._backends.clear()
        self._in_flight.clear()
        try:
            self._shutdown()
        finally:
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
            if kernel is not None:
                kernel.restore()
                _reload_ray_config()  # ray.init may have turned token authentication on


def _host_port(address: object) -> tuple[str, int] | None:
    """``"127.0.0.1:6379"`` -> ("127.0.0.1", 6379); None for anything else."""
    if not isinstance(address, str) or "/" in address:
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _reload_ray_config() -> None:
    """Make Ray read its settings from the environment again, as ``ray.init`` does itself
    when it turns token authentication on: Ray reads ``RAY_AUTH_MODE`` once, on import, so a
    mode set in the notebook later would not count. Nothing for a Ray without it."""
    with suppress(Exception):
        from ray._raylet import Config

        Config.initialize("")


def _refused_token(exc: BaseException | None) -> bool:
    """Whether connecting failed because the cluster wants Ray's authentication token."""
    while exc is not None:
        if "InvalidAuthToken" in str(exc) or type(exc).__name__ == "AuthenticationError":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _rays(processes: list) -> list:
    """Those of ``processes`` that are Ray's (its daemons and helpers run from its package),
    not another child the kernel happened to start meanwhile."""
    import psutil
    import ray

    package = os.path.dirname(ray.__file__)
    found = []
    for process in processes:
        with suppress(psutil.Error):
            command = " ".join(process.cmdline())
            if package in command or command.startswith("ray::"):
                found.append(process)
    return found


def _with_descendants(processes: list) -> list:
    """The processes still running and every process they started (a raylet's workers)."""
    import psutil

    found: dict[int, Any] = {}
    for process in processes:
        try:
            if process.is_running():
                found[process.pid] = process
                found.update((child.pid, child) for child in process.children(recursive=True))
        except psutil.Error:
            continue
    return list(found.values())


class _KernelState:
    """What Ray changes in the kernel, noted before and put back by :meth:`restore`:
    environment variables, ``sys.excepthook``, the SIGTERM handler, ``faulthandler`` and the
    ``ray`` logger's level (``ray.init`` sets it; here, to keep its messages out)."""

    def __init__(self) -> None:
        import faulthandler
        import signal
        import sys

        self.environ = dict(os.environ)
        self.excepthook = sys.excepthook
        self.faulthandler = faulthandler.is_enabled()
        self.sigterm = signal.getsignal(signal.SIGTERM)
        self.ray_level = logging.getLogger("ray").level

    def restore(self) -> None:
        import faulthandler
        import signal
        import sys
        import threading

        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        sys.excepthook = self.excepthook
        if not self.faulthandler and faulthandler.is_enabled():
            faulthandler.disable()
        main = threading.current_thread() is threading.main_thread()
        if main and self.sigterm is not None and signal.getsignal(signal.SIGTERM) != self.sigterm:
            signal.signal(signal.SIGTERM, self.sigterm)
        logging.getLogger("ray").setLevel(self.ray_level)


_BACKEND: list[type] = []


def _backend_class() -> type:
    """Ray's joblib backend, keeping a token for each batch it has sent and not got back, so
    that a stopped call can say how many tasks it cancelled. Made on first use: it subclasses
    a class of Ray's, and nothing of Ray is imported before a Ray backend is asked for. The
    class keeps Ray's name, which is how results name the backend that ran."""
    if not _BACKEND:
        from ray.util.joblib.ray_backend import RayBackend as Base

        class RayBackend(Base):
            in_flight: set[object] | None = None

            def submit(self, func, callback=None):
                flying = self.in_flight
                if flying is None:
                    return super().submit(func, callback)
                token = object()

                def done(out):
                    # A batch whose actor was killed comes back as Ray's error: it stays
                    # counted until the call that stopped says how many it cancelled.
                    if not isinstance(out, BaseException):
                        flying.discard(token)
                    if callback is not None:
                        callback(out)

                flying.add(token)
                try:
                    return super().submit(func, done)
                except BaseException:
                    flying.discard(token)
                    raise

        _BACKEND.append(RayBackend)
    return _BACKEND[0]
