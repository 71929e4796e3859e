"""ipyparallel's joblib backend on a cluster of IPython engines: one started here, or a
running one found by profile and cluster id.

``ipyparallel`` is imported only when the runner opens.
"""

from __future__ import annotations

import math
import signal
import time
from typing import Any

from .._events import SizesTooLarge
from ._cluster import ClusterRunner
from .base import resolve_size

__all__ = ["IpyparallelRunner"]

# Extra seconds to wait for engines to connect after they are started.
WORKER_WAIT_SECONDS = 120


class IpyparallelRunner(ClusterRunner):
    """ipyparallel's joblib backend on a cluster of engines started here on 127.0.0.1
    (``cluster="local"``), or on an existing one found by profile and cluster id."""

    name = "ipyparallel"
    joblib_class = "IPythonParallelBackend"
    requires = ("ipyparallel", "ipyparallel-ds[ipyparallel]")
    connect_options = ("profile", "cluster_id")
    connect_example = "--profile NAME"
    connect_hint = (
        "--profile and --cluster-id find an ipyparallel cluster: add --backend ipyparallel"
    )

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

    @classmethod
    def from_plan(cls, plan: Any) -> IpyparallelRunner:
        return cls(plan.cluster, plan.profile, plan.cluster_id)

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
        self._note_processes()
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
            self.events.append(SizesTooLarge(available, tuple(too_big)))
        return [s for s in asked if s <= available] or [available]

    def make_cold(self, n_jobs: int) -> float:
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

    def run_on_workers(self, function, *args) -> list | None:
        return list(self.client[:].apply_sync(function, *args))

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
        stopping = self._stopping()
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
                self._await(stopping)
            finally:
                if profile_dir is not None:
                    shutil.rmtree(profile_dir, ignore_errors=True)
