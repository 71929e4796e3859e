"""Importing and loading the extension: cheap, no side effects, reversible."""

from __future__ import annotations

import subprocess
import sys

from ipyparallel_ds import _options

HEAVY = ("matplotlib", "ipywidgets", "sklearn", "scipy", "joblib", "IPython.core.magic")


def python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_import_is_light_and_changes_nothing():
    out = python(
        "import sys, threadpoolctl\n"
        "before = threadpoolctl.threadpool_info()\n"
        "import ipyparallel_ds\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
        "print(threadpoolctl.threadpool_info() == before)\n"
    )
    assert out.splitlines() == ["[]", "True"]


def test_public_names_resolve_lazily():
    out = python(
        "import ipyparallel_ds as p\n"
        "print(p.parcompare.__module__, p.ParCompareResult.__name__, p.ConfigTiming.__name__)"
    )
    assert out == "ipyparallel_ds.api ParCompareResult ConfigTiming"


def test_load_ext_registers_line_and_cell_magic(shell):
    assert "parcompare" in shell.magics_manager.magics["line"]
    assert "parcompare" in shell.magics_manager.magics["cell"]


def test_unload_and_reload(shell):
    shell.run_line_magic("unload_ext", "ipyparallel_ds")
    try:
        assert "parcompare" not in shell.magics_manager.magics["line"]
    finally:
        shell.run_line_magic("load_ext", "ipyparallel_ds")
    assert "parcompare" in shell.magics_manager.magics["line"]


def test_help_lists_every_option_and_an_example(shell):
    doc = shell.magics_manager.magics["line"]["parcompare"].__doc__
    for option in _options.OPTIONS:
        assert option.flags in doc
    assert "%parcompare cross_val_score(SVC(), X, y, cv=20)" in doc
    assert "%%parcompare" in doc


def test_load_ext_does_not_import_heavy_modules():
    out = python(
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'ipyparallel_ds')\n"
        "print([m for m in ('matplotlib', 'ipywidgets', 'sklearn', 'scipy', 'joblib',"
        " 'ipyparallel_ds.api')"
        " if m in sys.modules])\n"
    )
    assert out == "[]"


def test_importing_every_module_imports_no_heavy_package():
    """Heavy packages are imported inside functions, on first use: the modules themselves can
    all be imported without them (so the layers can import each other at the top)."""
    out = python(
        "import sys, pkgutil, importlib, ipyparallel_ds\n"
        "for m in pkgutil.walk_packages(ipyparallel_ds.__path__, 'ipyparallel_ds.'):\n"
        "    if m.name != 'ipyparallel_ds.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "heavy = ('matplotlib', 'ipywidgets', 'sklearn', 'scipy', 'joblib', 'numpy', 'psutil',"
        " 'distributed', 'ipyparallel', 'pandas', 'threadpoolctl')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    assert out == "[]"
