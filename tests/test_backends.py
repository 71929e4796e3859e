"""Other joblib backends side by side, and dask.distributed and ipyparallel clusters.

The cluster tests start real clusters on 127.0.0.1 (2 workers, 1 thread each) and check that
nothing the tool started outlives a run: no scheduler, worker, controller or engine process.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
from IPython.core.error import UsageError
from test_parcompare import StateCheck

from ipyparallel_ds import _options, backends
from ipyparallel_ds.backends.dask import DaskRunner

KILLER = """\
def die_on_dask_worker(i):
    # Kill the dask worker process that runs this task; do nothing anywhere else.
    import os
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return i
    os._exit(1)


def sleep_on_cluster(i):
    # Sleep in a dask worker or an ipyparallel engine; return at once in the kernel.
    import os, time
    if os.getpid() != KERNEL_PID:
        time.sleep(60)
    return i
"""

SPIN = """\
def spin(seconds):
    # Burn this much CPU time: enough clock ticks for each worker's CPU to be seen.
    import time
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
"""


def cluster_processes() -> list[str]:
    """Descendants of this process that belong to a cluster: dask workers (spawned
    processes), ipyparallel controllers, engines and nannies."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "resource_tracker" in command:
            continue
        if "spawn_main" in command or "ipyparallel" in command or "distributed" in command:
            found.append(f"{child.pid} {command[:100]}")
    return found


def wait_until_gone(timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while cluster_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    return cluster_processes()


def port_open(address: str) -> bool:
    host, port = address.rsplit("//", 1)[-1].rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture
def state(ip):
    check = StateCheck(ip)
    yield check
    check.assert_restored()
    assert wait_until_gone() == []


def magic(ip, options, statement="cross_val_score(SVC(), X, y, cv=4)"):
    return ip.run_line_magic("parcompare", f"-o -q -n 1 -r 1 {options} {statement}")


# -- local backends --------------------------------------------------------------------------
def test_backends_side_by_side_in_one_table_and_one_chart(tiny, state):
    r = magic(tiny, "-b loky,threading -j 1,2")
    assert [(c.backend, c.n_jobs) for c in r.configs] == [
        ("sequential", 1),
        ("loky", 2),
        ("threading", 2),
    ]
    assert r.backends == ["loky", "threading"]
    assert r.baseline.backend == "sequential"
    # Speedups are relative to the one serial baseline, paired with its runs.
    assert all(c.speedup > 0 and len(c.paired_baseline) >= c.repeat for c in r.configs[1:])
    assert r.configs[1].backend_used == "loky" and r.configs[2].backend_used == "threading"
    table = r.table()
    assert table.splitlines()[0].split()[0] == "backend"
    assert "loky" in table and "threading" in table and "sequential" in table
    assert "n_jobs=2 (threading)" in r.text_chart()
    assert "Best speedup per backend" in r.verdict
    # One line per backend on the same axes, for every metric.
    for metric in ("speedup", "time", "efficiency"):
        ax = r.plot(metric)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(label.startswith("loky") for label in labels), labels
        assert any(label.startswith("threading") for label in labels), labels
    assert set(r.to_frame().index.names) == {"backend", "n_jobs"}
    # The widget's controls redraw every backend's line from the stored result.
    widget = r.widget()
    first = widget.image.value
    widget.metric.value = "time"
    assert widget.image.value != first
    assert [c["backend"] for c in r.to_dict()["configs"]] == ["sequential", "loky", "threading"]


def test_multiprocessing_backend_is_said_to_start_a_pool_per_call(tiny, state):
    r = magic(tiny, "-b multiprocessing -j 1,2")
    assert [c.backend for c in r.configs] == ["multiprocessing", "multiprocessing"]
    assert r.configs[1].workers_used == 2
    assert any("starts a new pool of worker processes on every call" in w for w in r.warnings)
    assert not any("worker processes changed" in w for w in r.warnings)


def test_a_backend_that_cannot_run_the_statement_is_reported_and_the_others_run(tiny, state):
    tiny.run_cell("from joblib import Parallel, delayed\nsquare = lambda i: i * i").raise_error()
    state.mark()
    r = magic(
        tiny,
        "-b threading,multiprocessing -j 1,2",
        "Parallel()(delayed(square)(i) for i in range(4))",
    )
    assert [c.backend for c in r.configs] == ["sequential", "threading"]
    note = next(w for w in r.warnings if "multiprocessing backend could not run" in w)
    assert "picklable" in note
    assert r.results_equal is True


def test_single_backend_error_still_raises_with_the_point_named(tiny, state):
    tiny.run_cell("from joblib import Parallel, delayed\nsquare = lambda i: i * i").raise_error()
    state.mark()
    with pytest.raises(Exception, match=r"(?i)pickl|serializ"):
        magic(tiny, "-b multiprocessing -j 1,2", "Parallel()(delayed(square)(i) for i in range(4))")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("-b spark", "unknown backend 'spark'"),
        ("-b loky,loky", "given twice"),
        ("-b loky,", "empty"),
        ("-b dask", "the dask backend needs a cluster: --cluster local"),
        ("-b ipyparallel", "--profile NAME"),
        ("--cluster local", "only applies to --backend dask, ipyparallel or ray"),
        ("-b dask --cluster remote", "--cluster takes 'local'"),
        ("-b dask --scheduler localhost", "tcp://127.0.0.1:8786"),
        ("-b dask --cluster local --scheduler tcp://127.0.0.1:1", "contradict"),
        ("-b loky --scheduler tcp://127.0.0.1:1", "only applies"),
        ("-b dask,ipyparallel --cluster local --profile x", "contradict"),
        ("-b dask --cluster local --timeout 0", "--timeout must be a positive"),
        ("-b dask --cluster local --timeout soon", "--timeout needs a number"),
    ],
)
def test_bad_backend_options_are_usage_errors_naming_the_value(tiny, state, options, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        magic(tiny, options)


def test_missing_extra_is_named(tiny, state, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("distributed", "ipyparallel") else real(name, *a),
    )
    with pytest.raises(UsageError, match=r"pip install 'ipyparallel-ds\[dask\]'"):
        magic(tiny, "-b dask --cluster local")
    with pytest.raises(UsageError, match=r"pip install 'ipyparallel-ds\[ipyparallel\]'"):
        magic(tiny, "-b ipyparallel --cluster local")


def test_nothing_of_dask_ipyparallel_or_ray_is_imported_unless_asked():
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'ipyparallel_ds')\n"
        "ip.run_cell('x = 1')\n"
        "ip.run_line_magic('parcompare', '-q -j 1,2 -n 1 -r 1 -b loky,threading sum(range(9))')\n"
        "names = ('dask', 'distributed', 'ipyparallel', 'ray')\n"
        "print(sorted(m for m in names if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr


# -- dask.distributed ------------------------------------------------------------------------
@pytest.fixture
def dask_ready(tiny):
    pytest.importorskip("distributed")
    tiny.run_cell(KILLER + f"KERNEL_PID = {os.getpid()}\n").raise_error()
    return tiny


def test_dask_local_cluster_is_scaled_per_point_and_stopped(dask_ready, state):
    state.mark()
    r = magic(dask_ready, "--backend dask --cluster local -j 1,2")
    assert [(c.backend, c.n_jobs, c.workers) for c in r.configs] == [
        ("sequential", 1, 1),
        ("dask", 1, 1),
        ("dask", 2, 2),
    ]
    sequential, one, two = r.configs
    assert math.isnan(sequential.cluster_startup)  # no cluster
    assert one.cluster_startup > 0 and two.cluster_startup > 0
    assert two.backend_used == "dask" and two.workers_used == 2
    assert two.worker_parallel_calls == 0  # recorded inside the workers: none there
    assert r.results_equal is True
    (cluster,) = r.clusters
    assert cluster["backend"] == "dask" and cluster["kind"] == "local"
    assert cluster["address"].startswith("tcp://127.0.0.1:")
    assert not port_open(cluster["address"])  # the scheduler is gone
    assert "cluster start-up" in r.table()
    assert "Starting the cluster's 2 workers took" in r.verdict
    ax = r.plot("speedup")
    assert "cluster workers" in ax.get_xlabel()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


NESTED_FOREST = (
    "cross_val_score(RandomForestClassifier(n_estimators=10, n_jobs=2, random_state=0), X, y, cv=3)"
)


@pytest.mark.parametrize("backend", ["dask", "ipyparallel"])
def test_joblib_calls_inside_a_cluster_s_workers_are_recorded(tiny, state, backend):
    """Parallelism guide, nested parallelism, on a cluster: the forest's own joblib calls run
    in the cluster's workers; each worker keeps them, and the kernel fetches them."""
    pytest.importorskip({"dask": "distributed"}.get(backend, backend))
    tiny.run_cell("from sklearn.ensemble import RandomForestClassifier").raise_error()
    state.mark()
    r = magic(tiny, f"--backend {backend} --cluster local -j 2", NESTED_FOREST)
    cluster = r.configs[-1]
    assert cluster.backend == backend
    assert cluster.worker_parallel_calls >= 3  # each fold's fit, in a worker
    assert cluster.worker_effective_n_jobs == (2,)
    assert "threading" in cluster.worker_backend_used
    assert any(w.startswith("nested parallelism") for w in r.warnings)


def test_existing_dask_cluster_is_measured_at_its_size_and_left_running(dask_ready):
    """A cluster started as the docs say (dask scheduler, dask worker), outside the tool."""
    from pathlib import Path

    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], **quiet
    )
    workers = subprocess.Popen(
        [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        **quiet,
    )
    try:
        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        r = magic(dask_ready, f"--backend dask --scheduler {address} -j 1,2")
        assert [(c.backend, c.workers) for c in r.configs] == [("sequential", 1), ("dask", 2)]
        assert r.configs[1].workers_used is None  # not this kernel's processes to watch
        assert any("cannot be scaled from here" in w for w in r.warnings)
        assert r.clusters[0]["kind"] == "existing" and r.clusters[0]["address"] == address
        assert r.configs[1].worker_parallel_calls == 0  # its workers recorded theirs
        assert port_open(address)  # not ours to stop
        assert scheduler.poll() is None and workers.poll() is None
        with Client(address, timeout="60s", set_as_default=False) as client:
            # joblib is put back in the cluster's workers once the sweep is over (a lambda is
            # sent by value: the workers cannot import this test module)
            names = client.run(lambda: __import__("joblib").Parallel.__call__.__qualname__)
            assert set(names.values()) == {"Parallel.__call__"}
    finally:
        for process in (workers, scheduler):
            process.terminate()
            process.wait(timeout=60)
    assert wait_until_gone() == []


def test_dask_deadline_turns_a_worker_killing_task_into_a_clear_error(dask_ready, state):
    dask_ready.run_cell("from joblib import Parallel, delayed").raise_error()
    state.mark()
    # distributed's nannies keep a helper thread in the kernel for each worker process that
    # failed to restart after its task killed it, even once the cluster is closed (its
    # AsyncProcess is never finalized); the cluster's processes themselves are all gone.
    state.allowed_threads = ("AsyncProcess Dask Worker process", "QueueFeederThread")
    started = time.monotonic()
    r = magic(
        dask_ready,
        "--backend dask --cluster local -j 2 --timeout 20",
        "Parallel()(delayed(die_on_dask_worker)(i) for i in range(2))",
    )
    assert time.monotonic() - started < 120
    assert [c.backend for c in r.configs] == ["sequential"]
    note = next(w for w in r.warnings if "deadline (--timeout)" in w)
    assert "20 s" in note and "cancelled" in note and "killing its worker" in note


def test_dask_ctrl_c_cancels_the_tasks_and_stops_the_cluster(dask_ready, state):
    dask_ready.run_cell("from joblib import Parallel, delayed").raise_error()
    state.mark()
    main = threading.main_thread().ident
    timer = threading.Timer(12, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            magic(
                dask_ready,
                "--backend dask --cluster local -j 2",
                "Parallel()(delayed(sleep_on_cluster)(i) for i in range(2))",
            )
    finally:
        timer.cancel()
    r = info.value.result
    assert r.interrupted
    assert any("cancelled" in w and "dask" in w for w in r.warnings), r.warnings


def test_unload_ext_stops_a_cluster_still_open(ip):
    pytest.importorskip("distributed")
    runner = DaskRunner(cluster="local")
    backends._open.append(runner)
    runner.open()
    runner.make_cold(1)
    address = runner.info["address"]
    assert port_open(address)
    ip.run_line_magic("unload_ext", "ipyparallel_ds")
    ip.run_line_magic("load_ext", "ipyparallel_ds")
    assert runner.client is None and not backends._open
    assert not port_open(address)
    assert wait_until_gone() == []


# -- ipyparallel -----------------------------------------------------------------------------
def test_ipyparallel_local_cluster_is_scaled_per_point_and_stopped(tiny, state):
    pytest.importorskip("ipyparallel")
    import tempfile

    before = set(os.listdir(tempfile.gettempdir()))
    tiny.run_cell(SPIN + "from joblib import Parallel, delayed").raise_error()
    state.mark()
    # Two tasks of 0.25 s CPU each: longer than joblib's ideal batch, so one task per
    # engine, and many clock ticks each, so both engines' CPU is seen. (The default
    # statement's 3 ms tasks can all land on one engine, or below the 10 ms tick.)
    r = magic(
        tiny,
        "--backend ipyparallel --cluster local -j 1,2 -n1 -r2",
        "Parallel()(delayed(spin)(0.25) for _ in range(2))",
    )
    assert cluster_processes() == []  # gone when the magic returns, nannies included
    assert [(c.backend, c.workers) for c in r.configs] == [
        ("sequential", 1),
        ("ipyparallel", 1),
        ("ipyparallel", 2),
    ]
    assert all(c.cluster_startup > 0 for c in r.configs[1:])
    assert r.configs[2].backend_used == "ipyparallel" and r.configs[2].workers_used == 2
    assert r.clusters[0]["kind"] == "local"
    left = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("parcompare-ipy")}
    assert not left - before  # the throw-away profile is removed
    import pickle

    from ipyparallel.serialize import serialize

    assert serialize.pickle is pickle  # the kernel's ipyparallel serialization as it was


def test_ipyparallel_deadline_aborts_the_tasks_and_stops_the_cluster(tiny, state):
    pytest.importorskip("ipyparallel")
    tiny.run_cell(KILLER + f"KERNEL_PID = {os.getpid()}\n").raise_error()
    tiny.run_cell("from joblib import Parallel, delayed").raise_error()
    state.mark()
    r = magic(
        tiny,
        "--backend ipyparallel --cluster local -j 2 --timeout 10",
        "Parallel()(delayed(sleep_on_cluster)(i) for i in range(2))",
    )
    assert [c.backend for c in r.configs] == ["sequential"]
    assert r.configs[0].repeat >= 1  # the baseline still has warm runs of its own
    note = next(w for w in r.warnings if "deadline (--timeout)" in w)
    assert "ipyparallel" in note and "cancelled" in note


def test_existing_ipyparallel_cluster_is_used_through_views(tiny, tmp_path, monkeypatch):
    ipp = pytest.importorskip("ipyparallel")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path))
    cluster = ipp.Cluster(
        n=2,
        profile="parcompare-test",
        cluster_id="t1",
        controller_ip="127.0.0.1",
        log_level=logging.ERROR,
    )
    cluster.start_cluster_sync()
    try:
        client = cluster.connect_client_sync()
        client.wait_for_engines(2, timeout=120, interactive=False, widget=False)
        client.close()
        r = magic(
            tiny,
            "--backend ipyparallel --profile parcompare-test --cluster-id t1 -j 1,2,4",
        )
        assert [(c.backend, c.workers) for c in r.configs] == [
            ("sequential", 1),
            ("ipyparallel", 1),
            ("ipyparallel", 2),
        ]
        assert any("could not be measured" in w and "4" in w for w in r.warnings)
        assert all(math.isnan(c.cluster_startup) for c in r.configs)  # none started
        assert len(cluster.engines) == 1 and r.clusters[0]["kind"] == "existing"
    finally:
        cluster.stop_cluster_sync()
    assert wait_until_gone() == []


def test_option_table_names_every_backend():
    help_text = _options.options_help()
    for name in _options.BACKENDS:
        assert name in help_text
    assert "--timeout" in help_text and "--cluster" in help_text
