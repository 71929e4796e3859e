"""Benchmark 4: the cost of %load_ext against peer extensions, each in a fresh IPython.

Each fresh IPython may write and read bytecode caches (``.pyc``), as a user's does: a machine
that sets ``PYTHONDONTWRITEBYTECODE`` (this sandbox does) would otherwise compile a
pure-Python package such as this one from source at every start, while a compiled peer pays
nothing for it. One unmeasured load of each extension writes its caches first.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from _common import Figure, log

EXTENSIONS = ("ipyparallel_ds", "autotime", "line_profiler", "memory_profiler")
CODE = """\
import json, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t0 = time.perf_counter()
shell.run_line_magic("load_ext", {name!r})
print(json.dumps(time.perf_counter() - t0))
"""


def load_time(name: str) -> float:
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(name=name)], capture_output=True, text=True, env=environ
    )
    if done.returncode:
        raise RuntimeError(f"%load_ext {name} failed: {done.stderr.strip()[-300:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 10) -> Figure:
    medians: dict[str, float | None] = {}
    for name in EXTENSIONS:
        try:
            load_time(name)  # writes the bytecode caches
            times = [load_time(name) for _ in range(runs)]
        except RuntimeError as exc:
            log(f"  {exc}")
            medians[name] = None
            continue
        medians[name] = statistics.median(times) * 1000
        log(f"  %load_ext {name}: {medians[name]:.1f} ms (median of {runs})")
    ours = medians["ipyparallel_ds"]
    peer = medians.get("line_profiler")
    met = ours is not None and ours <= 30 and (peer is None or ours < peer)
    peers = ", ".join(
        f"{name} {value:.1f} ms" if value is not None else f"{name} not installed"
        for name, value in medians.items()
        if name != "ipyparallel_ds"
    )
    return Figure(
        "load cost: %load_ext ipyparallel_ds (median of 10 fresh IPythons)",
        ours,
        "ms",
        "<= 30 ms and below line_profiler",
        met,
        note=peers,
        details=medians,
    )
