"""Ray as a cluster backend: a local Ray instance sized to each -j value, and a running Ray
cluster started the way the docs say (``ray start --head ...``), both on 127.0.0.1.

Every test that starts Ray checks that no Ray process is left afterwards (``gcs_server``,
``raylet``, Ray's workers and agents) and that the kernel is as it was. Without Ray
(``pip install 'ipyparallel-ds[ray]'``) those tests are skipped on a developer's machine and
fail in CI (``CI=true``), whose test extras install it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import TINY_SETUP
from IPython.core.error import UsageError
from test_backends import KILLER, free_port, magic, port_open
from test_parcompare import StateCheck

from ipyparallel_ds import backends, parcompare
from ipyparallel_ds.backends.ray import RayRunner

STATEMENT = "cross_val_score(SVC(), X, y, cv=4)"


def _unavailable(reason: str):
    """Skip on a developer's machine; fail in CI, which installs the test extras."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the test extras install it)", pytrace=False)
    pytest.skip(reason)


def ray_processes() -> dict[int, str]:
    """Ray's processes on this machine (pid -> command): its daemons (gcs_server, raylet),
    its workers and actors (``ray::...``) and the helpers it runs from its package."""
    spec = importlib.util.find_spec("ray")
    package = os.path.dirname(spec.origin) if spec and spec.origin else None
    found = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.pid == os.getpid():
            continue
        name = process.info["name"] or ""
        command = " ".join(process.info["cmdline"] or ())
        if (
            name in ("raylet", "gcs_server")
            or command.startswith("ray::")
            or (package is not None and package in command)
        ):
            found[process.pid] = f"{name}: {command[:120]}"
    return found


def ray_left(before: dict[int, str], timeout: float = 20.0) -> list[str]:
    """The Ray processes that were not there ``before`` and are still there after a wait."""
    deadline = time.monotonic() + timeout
    while True:
        left = [f"{pid} {what}" for pid, what in ray_processes().items() if pid not in before]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def kernel_state() -> tuple:
    """What Ray changes in the kernel and the runner puts back."""
    import faulthandler

    from joblib.pool import PicklingPool

    return (
        sys.excepthook,
        signal.getsignal(signal.SIGTERM),
        faulthandler.is_enabled(),
        logging.getLogger("ray").level,
        PicklingPool.__bases__,
    )


def temp_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("parcompare-ray-")}


@pytest.fixture
def ray_ready(tiny):
    if importlib.util.find_spec("ray") is None:
        _unavailable("ray is not installed: pip install 'ipyparallel-ds[ray]'")
    import ray  # what importing Ray changes, it changes in any program: not checked here

    assert not ray.is_initialized()
    before = ray_processes()
    yield tiny
    assert ray_left(before) == []


@pytest.fixture
def state(ray_ready):
    check = StateCheck(ray_ready)
    kernel, dirs = kernel_state(), temp_dirs()
    yield check
    check.assert_restored()
    assert kernel_state() == kernel
    assert temp_dirs() == dirs  # the throw-away Ray directory is removed


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of 2 CPUs, started and stopped as the docs say: with Ray's token
    authentication (its token made if there is none), which the kernel then uses. Shared by
    the tests of a running cluster, which come last in this module."""
    if importlib.util.find_spec("ray") is None:
        _unavailable("ray is not installed: pip install 'ipyparallel-ds[ray]'")
    before = ray_processes()
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        subprocess.run([ray, "get-auth-token", "--generate"], capture_output=True, timeout=120)
        patch.setenv("RAY_AUTH_MODE", "token")
        start = [
            ray, "start", "--head", "--port", str(port), "--num-cpus", "2",
            "--include-dashboard", "false", "--disable-usage-stats",
        ]  # fmt: skip
        subprocess.run(start, check=True, capture_output=True, timeout=120)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120)
    assert ray_left(before) == []


# -- options, before anything runs -----------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("-b ray", "the ray backend needs a cluster: --cluster local"),
        ("-b loky --address 127.0.0.1:6379", "--address only applies to --backend"),
        ("-b dask --cluster local --address 127.0.0.1:6379", "add --backend ray"),
        ("-b ray --cluster local --address 127.0.0.1:6379", "--address contradict each other"),
        ("-b ray --address ray://127.0.0.1:10001", "got 'ray://127.0.0.1:10001'"),
        ("-b ray --address nowhere", "got 'nowhere'"),
        ("-b ray --cluster remote", "--address (ray)"),
    ],
)
def test_bad_ray_options_are_usage_errors_naming_the_value(tiny, options, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        magic(tiny, options)


def test_missing_ray_names_the_extra(tiny, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(UsageError, match=r"pip install 'ipyparallel-ds\[ray\]'"):
        magic(tiny, "-b ray --cluster local")
    with pytest.raises(ValueError, match=r"pip install 'ipyparallel-ds\[ray\]'"):
        parcompare(STATEMENT, backend="ray", address="127.0.0.1:6379", namespace=tiny.user_ns)


# -- a local Ray instance --------------------------------------------------------------------
def test_ray_local_instance_is_sized_per_point_and_stopped(state):
    ip = state.ip
    r = magic(ip, "--backend ray --cluster local -j 1,2")
    assert [(c.backend, c.n_jobs, c.workers) for c in r.configs] == [
        ("sequential", 1, 1),
        ("ray", 1, 1),
        ("ray", 2, 2),
    ]
    sequential, one, two = r.configs
    assert math.isnan(sequential.cluster_startup)  # no cluster
    assert one.cluster_startup > 0 and two.cluster_startup > 0  # a fresh instance each
    assert one.effective_n_jobs == (1,)  # one CPU: joblib runs the tasks in the kernel
    assert two.backend_used == "ray" and two.effective_n_jobs == (2,)
    assert two.workers_used == 2
    # The tasks were timed inside Ray's actors, whose pools recorded them as loky's do.
    assert two.tasks and all(call.where == "workers" for call in two.tasks)
    assert two.worker_parallel_calls == 0
    assert r.results_equal is True
    (cluster,) = r.clusters
    assert cluster["backend"] == "ray" and cluster["kind"] == "local"
    # Ray gives the instance this machine's address, even when told 127.0.0.1.
    assert cluster["address"].rsplit(":", 1)[1].isdigit() and cluster["workers"] == 2
    assert not port_open(cluster["address"])  # the instance is gone
    assert "cluster start-up" in r.table()
    assert any("ray backend starts a new pool of worker processes" in w for w in r.warnings)
    import ray

    assert not ray.is_initialized()
    # joblib's multiprocessing backend is joblib's again (Ray's backend patches its pool).
    m = magic(ip, "-b multiprocessing -j 1,2")
    assert m.configs[1].backend_used == "multiprocessing" and not ray.is_initialized()


def test_ray_deadline_cancels_the_tasks_and_stops_the_instance(state):
    ip = state.ip
    setup = KILLER + f"KERNEL_PID = {os.getpid()}\nfrom joblib import Parallel, delayed"
    ip.run_cell(setup).raise_error()
    state.mark()
    started = time.monotonic()
    r = magic(
        ip,
        "--backend ray --cluster local -j 2 --timeout 10",
        "Parallel()(delayed(sleep_on_cluster)(i) for i in range(2))",
    )
    assert time.monotonic() - started < 50
    assert [c.backend for c in r.configs] == ["sequential"]
    note = next(w for w in r.warnings if "deadline (--timeout)" in w)
    assert "10 s" in note and "local Ray instance" in note
    assert "2 outstanding tasks were cancelled" in note


SIGNALLING_SLEEP = """\
def sleep_on_ray(i):
    # In a Ray actor: say that the task runs, then sleep; in the kernel: return at once.
    import os, time
    if os.getpid() != KERNEL_PID:
        open(os.path.join(MARKS, str(os.getpid())), "w").close()
        time.sleep(60)
    return i
"""


def test_ray_ctrl_c_cancels_the_tasks_and_stops_the_instance(state, tmp_path):
    ip = state.ip
    ip.run_cell(
        SIGNALLING_SLEEP + f"KERNEL_PID = {os.getpid()}\nMARKS = {str(tmp_path)!r}\n"
        "from joblib import Parallel, delayed"
    ).raise_error()
    state.mark()
    main = threading.main_thread().ident

    def interrupt_once_running():  # Ctrl-C once a task runs in an actor
        deadline = time.monotonic() + 60
        while not os.listdir(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        signal.pthread_kill(main, signal.SIGINT)

    watcher = threading.Thread(target=interrupt_once_running, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt) as info:
        magic(
            ip,
            "--backend ray --cluster local -j 2",
            "Parallel()(delayed(sleep_on_ray)(i) for i in range(2))",
        )
    watcher.join()
    r = info.value.result
    assert r.interrupted
    assert any("cancelled on a local Ray instance" in w for w in r.warnings), r.warnings


def test_unload_ext_stops_a_ray_instance_still_open(ray_ready):
    runner = RayRunner(cluster="local")
    backends._open.append(runner)
    try:
        runner.open()
        runner.make_cold(1)
        address = runner.info["address"]
        assert port_open(address)
        ray_ready.run_line_magic("unload_ext", "ipyparallel_ds")
        ray_ready.run_line_magic("load_ext", "ipyparallel_ds")
        assert not backends._open and not port_open(address)
    finally:
        backends.close_all([runner])


# -- a running Ray cluster -------------------------------------------------------------------
def test_unreachable_ray_address_is_named_and_starts_nothing(ray_ready):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    before = ray_processes()
    with pytest.raises(ConnectionError, match=f"Ray cluster at {address}"):
        magic(ray_ready, f"--backend ray --address {address} -j 1,2")
    assert ray_left(before, timeout=0) == []
    out = subprocess.run(
        [sys.executable, "-m", "ipyparallel_ds", "-b", "ray", "--address", address, "1 + 1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1 and f"Ray cluster at {address}" in out.stderr


def test_existing_ray_cluster_is_measured_at_its_size_and_left_running(ray_cluster, ray_ready):
    address = ray_cluster
    r = magic(ray_ready, f"--backend ray --address {address} -j 1,2")
    assert [(c.backend, c.workers) for c in r.configs] == [("sequential", 1), ("ray", 2)]
    assert r.configs[1].workers_used is None  # not this kernel's processes to watch
    assert r.configs[1].backend_used == "ray"
    assert math.isnan(r.configs[1].cluster_startup)  # nothing started
    note = next(w for w in r.warnings if "cannot be scaled from here" in w)
    assert f"ray cluster at {address} has 2 CPUs" in note and "asked: 1, 2" in note
    assert r.clusters[0]["kind"] == "existing" and r.clusters[0]["address"] == address
    assert port_open(address)  # not ours to stop
    # The Python API measures it the same way.
    api = parcompare(
        STATEMENT, n_jobs=2, number=1, repeat=1, backend="ray", address=address,
        namespace=ray_ready.user_ns, quiet=True,
    )  # fmt: skip
    assert [(c.backend, c.workers) for c in api.configs] == [("sequential", 1), ("ray", 2)]
    assert port_open(address)


def test_the_command_line_measures_a_running_ray_cluster(ray_cluster, ray_ready):
    command = [
        sys.executable, "-m", "ipyparallel_ds", "-b", "ray", "--address", ray_cluster,
        "-n", "1", "-r", "1", "--json", "--setup", TINY_SETUP, STATEMENT,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [c["backend"] for c in result["configs"]] == ["sequential", "ray"]
    assert result["clusters"][0]["address"] == ray_cluster
    assert port_open(ray_cluster)
