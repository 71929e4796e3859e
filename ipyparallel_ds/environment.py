"""What machine and software a measurement ran on."""

from __future__ import annotations

import os
import sys
from typing import Any

_DISTRIBUTIONS = ("ipython", "scikit-learn", "joblib", "numpy", "threadpoolctl", "ipyparallel-ds")


def _version(distribution: str) -> str | None:
    from importlib import metadata  # about 25 ms: not at %load_ext

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def usable_cores() -> int:
    """CPUs this process may use: loky's count, which respects affinity, cgroups and
    ``LOKY_MAX_CPU_COUNT`` (``os.cpu_count()`` does not)."""
    from joblib.externals.loky import cpu_count

    return cpu_count()


def collect() -> dict[str, Any]:
    """Versions, core counts and the BLAS/OpenMP thread pools loaded in this process.

    Returns
    -------
    dict
        ``python``, ``platform``, ``versions`` (distribution -> version), ``cores``
        (``logical``, ``physical``, ``usable``) and ``threadpools`` (one dict per pool from
        :func:`threadpoolctl.threadpool_info`).
    """
    import platform

    from joblib.externals.loky import cpu_count
    from threadpoolctl import threadpool_info

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {name: _version(name) for name in _DISTRIBUTIONS},
        "cores": {
            "logical": os.cpu_count(),
            "physical": cpu_count(only_physical_cores=True),
            "usable": cpu_count(),
        },
        "threadpools": [
            {
                key: pool.get(key)
                for key in ("user_api", "internal_api", "prefix", "version", "num_threads")
            }
            for pool in threadpool_info()
        ],
    }
