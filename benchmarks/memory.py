"""Benchmark 6: memory accounting, %parcompare --memory against an independent sampler.

In one IPython process, ``%parcompare --memory -j 1,2`` runs a statement over a 200 MB array
(joblib memory-maps it to the workers). Meanwhile a separate Python process samples the
kernel's process tree every 10 ms with psutil (Σ PSS and Σ RSS). Figure: the largest peak the
tool reports against the independent Σ PSS peak; Σ RSS is shown to make the difference
between the methods visible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from _common import Figure, relative_figure
from IPython.core.interactiveshell import InteractiveShell

SAMPLER = """\
import json, sys, time, psutil
root = psutil.Process(int(sys.argv[1]))
peak_pss = peak_rss = 0.0
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        procs = [root] + root.children(recursive=True)
        pss = rss = 0.0
        for p in procs:
            try:
                info = p.memory_full_info()
                pss += info.pss
                rss += info.rss
            except psutil.NoSuchProcess:
                pass
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
    except psutil.NoSuchProcess:
        break
    if sys.stdin in __import__("select").select([sys.stdin], [], [], 0.01)[0]:
        break
print(json.dumps({"pss": peak_pss, "rss": peak_rss}))
"""

SETUP = """\
import numpy as np
from joblib import Parallel, delayed
big = np.ones(25_000_000)  # 200 MB
"""
STATEMENT = "Parallel()(delayed(np.sum)(big) for _ in range(8))"


def measure() -> Figure:
    shell = InteractiveShell.instance(colors="nocolor")
    if "parcompare" not in shell.magics_manager.magics["line"]:
        shell.run_line_magic("load_ext", "ipyparallel_ds")
    shell.run_cell(SETUP).raise_error()
    sampler = subprocess.Popen(
        [sys.executable, "-c", SAMPLER, str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    try:
        result = shell.run_line_magic("parcompare", f"-o -q --memory -j 1,2 -r 3 {STATEMENT}")
    finally:
        independent = json.loads(sampler.communicate("stop\n", timeout=60)[0])
    reported = max(c.peak_memory for c in result.configs)
    tool_rss = max(c.rss_total for c in result.configs)
    shell.run_cell("del big").raise_error()
    return relative_figure(
        "memory accounting: --memory peak against an independent Σ PSS sampler",
        reported,
        independent["pss"],
        0.15,
        note=(
            f"reported {reported / 1e6:.0f} MB, independent Σ PSS {independent['pss'] / 1e6:.0f} "
            f"MB; Σ RSS {independent['rss'] / 1e6:.0f} MB (the tool's Σ RSS at its peak: "
            f"{tool_rss / 1e6:.0f} MB) counts the shared array once per process"
        ),
        details={"independent": independent, "reported": reported, "tool_rss": tool_rss},
    )
