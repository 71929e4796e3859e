"""The option table and its checks: backend names, errors and cluster checks come from the
backend registry, so a new backend is one module and one registry line."""

from __future__ import annotations

import pytest

from ipyparallel_ds import _options, _validate, backends
from ipyparallel_ds._points import point_name
from ipyparallel_ds.backends.local import LocalRunner


def test_backend_names_come_from_the_registry():
    assert tuple(backends.REGISTRY) == _options.BACKENDS
    assert backends.names(clusters=True) == ("dask", "ipyparallel", "ray")
    assert backends.connect_options() == ("scheduler", "profile", "cluster_id", "address")
    with pytest.raises(ValueError, match="unknown backend 'rey'") as info:
        _validate.parse_backends("loky,rey")
    assert all(name in str(info.value) for name in backends.REGISTRY)


def test_a_new_backend_is_one_class_and_one_registry_line(monkeypatch):
    class FancyRunner(LocalRunner):
        name = "fancy"
        joblib_class = "FancyBackend"
        uses_threads = True

    monkeypatch.setitem(backends.REGISTRY, "fancy", FancyRunner)
    monkeypatch.setitem(backends._KNOWN, "fancy", FancyRunner)
    assert _validate.parse_backends("loky,fancy") == ("loky", "fancy")
    assert backends.traits("fancy").uses_threads
    assert point_name("fancy", 2, 2) == "n_jobs=2 (fancy)"

    class FancyBackend:  # joblib's backend object for it
        pass

    assert backends.backend_name(FancyBackend()) == "fancy"


def test_traits_name_points_without_testing_names():
    assert point_name("loky", 2, 2) == "n_jobs=2"
    assert point_name("sequential", 1, 1) == "n_jobs=1"
    assert point_name("threading", 2, 2) == "n_jobs=2 (threading)"
    assert point_name("dask", 1, 1) == "dask with 1 worker"
    assert backends.traits("multiprocessing").pool_per_call
    assert not backends.traits("loky").pool_per_call
    assert backends.traits("loky").limits_inner_threads


@pytest.mark.parametrize(
    ("backends_asked", "options", "message"),
    [
        (("dask",), {}, "the dask backend needs a cluster: --cluster local"),
        (("ipyparallel",), {}, "or --profile NAME for a running one"),
        (("loky",), {"scheduler": "tcp://h:1"}, "--scheduler only applies to --backend"),
        (("ipyparallel",), {"scheduler": "tcp://h:1"}, "add --backend dask"),
        (("dask",), {"profile": "p", "cluster": "local"}, "add --backend ipyparallel"),
        (("dask",), {"scheduler": "tcp://h:1", "cluster": "local"}, "contradict each other"),
        (("dask",), {"scheduler": "nowhere"}, "an address like tcp://"),
        (("ray",), {}, "the ray backend needs a cluster: --cluster local"),
        (("ray",), {}, "or --address HOST:6379 for a running one"),
        (("loky",), {"address": "127.0.0.1:6379"}, "--address only applies to --backend"),
        (("dask",), {"address": "127.0.0.1:6379", "cluster": "local"}, "add --backend ray"),
        (("ray",), {"address": "127.0.0.1:6379", "cluster": "local"}, "contradict each other"),
        (("ray",), {"address": "ray://h:10001"}, "address HOST:PORT, like 127.0.0.1:6379"),
        (("ray",), {"address": "127.0.0.1"}, "got '127.0.0.1'"),
        (("ray",), {"address": "h:99999"}, "got 'h:99999'"),
        (("ray",), {"cluster": "remote"}, "--address \\(ray\\)"),
    ],
)
def test_cluster_options_are_checked_from_the_backends_traits(backends_asked, options, message):
    with pytest.raises(ValueError, match=message):
        _validate.check_cluster_options(backends_asked, **options)


def test_cluster_option_help_comes_from_the_registry():
    """Each cluster backend and its options to reach a running cluster are named in the help
    of -b, --cluster and --timeout, without a list written by hand."""
    texts = {option.long: option.help for option in _options.OPTIONS}
    for name in backends.names(clusters=True):
        for option in ("backend", "cluster", "timeout"):
            assert name in texts[option], (name, option)
    for flag in ("--scheduler (dask)", "--profile/--cluster-id (ipyparallel)", "--address (ray)"):
        assert flag in texts["backend"]
    assert _options.plan_arguments({"address": "127.0.0.1:6379"})["address"] == "127.0.0.1:6379"
