"""Shared fixtures: a real IPython shell, and one runner for both entry points."""

from __future__ import annotations

import os

import pytest

# Tiny, deterministic data everywhere: the tests check behaviour, never speed.
TINY_SETUP = """\
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC
X, y = make_classification(n_samples=200, random_state=0)
"""


@pytest.fixture(scope="session")
def shell():
    """A real IPython shell with the extension loaded."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance(colors="nocolor")
    ip.run_line_magic("load_ext", "ipyparallel_ds")
    yield ip
    from ipyparallel_ds import _pools

    _pools.shutdown_pool()


@pytest.fixture
def ip(shell):
    """The shell with a clean user namespace for each test."""
    shell.reset(new_session=False)
    yield shell
    shell.reset(new_session=False)


class Runner:
    """Run a sweep through the Python API or through the magic, returning the result."""

    def __init__(self, kind: str, shell) -> None:
        self.kind = kind
        self.shell = shell

    def __call__(self, stmt, setup="pass", *, n_jobs="1,2", number=1, repeat=1):
        if self.kind == "api":
            from ipyparallel_ds import parcompare

            return parcompare(
                stmt,
                setup,
                n_jobs=n_jobs,
                number=number,
                repeat=repeat,
                namespace=self.shell.user_ns,
                quiet=True,
            )
        options = f"-o -q -j {n_jobs} -n {number} -r {repeat}"
        if setup == "pass" and "\n" not in stmt:
            return self.shell.run_line_magic("parcompare", f"{options} {stmt}")
        return self.shell.run_cell_magic("parcompare", f"{options} {setup}", stmt)


@pytest.fixture(params=["api", "magic"])
def run(request, ip):
    """Every behaviour test runs through both the Python API and the magic."""
    return Runner(request.param, ip)


@pytest.fixture
def tiny(ip):
    """Tiny classification data and scikit-learn names in the user namespace."""
    ip.run_cell(TINY_SETUP).raise_error()
    return ip


def pytest_report_header(config):
    return f"cores: os.cpu_count()={os.cpu_count()}"
