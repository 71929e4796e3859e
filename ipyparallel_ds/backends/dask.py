"""joblib's dask backend on a dask.distributed cluster: one started here, or a running one.

``distributed`` is imported only when the runner opens.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from .._events import MeasuredAtItsSize
from ._cluster import ClusterRunner, keeping_environ
from ._deadline import spawnable_main
from .base import resolve_size

__all__ = ["DaskRunner"]

# Extra seconds to wait for cluster workers to connect after a scale.
WORKER_WAIT_SECONDS = 120


class DaskRunner(ClusterRunner):
    """joblib's dask backend on a ``LocalCluster`` started here (``cluster="local"``) or on
    an existing scheduler (``scheduler="tcp://..."``)."""

    name = "dask"
    joblib_class = "DaskDistributedBackend"
    requires = ("distributed", "ipyparallel-ds[dask]")
    connect_options = ("scheduler",)
    connect_example = "--scheduler tcp://HOST:8786"
    connect_hint = "--scheduler is the address of a dask scheduler: add --backend dask"

    def __init__(self, scheduler: str | None = None, cluster: str | None = None) -> None:
        super().__init__(cluster)
        self.scheduler = scheduler
        self.cluster = None
        self.client = None

    @classmethod
    def from_plan(cls, plan: Any) -> DaskRunner:
        return cls(plan.scheduler, plan.cluster)

    @classmethod
    def check_connect(cls, values: dict[str, object]) -> None:
        scheduler = values.get("scheduler")
        if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
            raise ValueError(
                f"--scheduler needs an address like tcp://127.0.0.1:8786, got {scheduler!r}"
            )

    def describe(self) -> str:
        where = "a local dask cluster" if self.local else f"the dask cluster at {self.scheduler}"
        return f"{where} ({self.size} worker thread{'s' if self.size != 1 else ''})"

    def open(self) -> None:
        import logging

        from distributed import Client, LocalCluster

        start = time.perf_counter()
        self._note_processes()
        self._environ = dict(os.environ)  # as close() leaves it, whatever a nanny set since
        if self.local:
            with spawnable_main(), keeping_environ():
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
            event = MeasuredAtItsSize(
                str(self.scheduler), available, tuple(asked), self.name, "worker thread"
            )
            self.events.append(event)
        return [available]

    def workers(self, n_jobs: int) -> int:
        return n_jobs if self.local else self.size

    def make_cold(self, n_jobs: int) -> float:
        """Retire every worker and start ``n_jobs`` fresh ones (local cluster), so that each
        size's first call meets cold workers; the seconds this took are its start-up."""
        if not self.local:
            return math.nan
        start = time.perf_counter()
        if self.size:
            self.cluster.scale(0)
            while self.client.scheduler_info(n_workers=-1)["workers"]:
                time.sleep(0.05)
        with spawnable_main(), keeping_environ():
            self.cluster.scale(n_jobs)
            self.client.wait_for_workers(n_jobs, timeout=WORKER_WAIT_SECONDS)
        self.size = n_jobs
        self.info["workers"] = max(self.info.get("workers", 0), n_jobs)  # the largest size
        return time.perf_counter() - start

    def config(self, n_jobs: int, inner_threads: int | None = None):
        from joblib import parallel_config

        return parallel_config(backend="dask", client=self.client)

    def run_on_workers(self, function, *args) -> list | None:
        return list(self.client.run(function, *args).values())

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
        stopping = self._stopping()
        with keeping_environ(getattr(self, "_environ", None)):  # a nanny restarted a worker
            try:
                if client is not None:
                    client.close()
            finally:
                if cluster is not None:
                    cluster.close()
                self._await(stopping)
