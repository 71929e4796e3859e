"""Sphinx configuration: MyST pages, the teaching notebooks (rendered with their stored outputs
by myst-nb), an API reference from the docstrings, and an options reference generated from the
one option table, so that the docs cannot drift from the code."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ipyparallel_ds  # noqa: E402
from ipyparallel_ds import _options  # noqa: E402

project = "ipyparallel_ds"
author = "The ipyparallel_ds developers"
copyright = "2026, The ipyparallel_ds developers"  # noqa: A001
version = release = ipyparallel_ds.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints"]
root_doc = "index"

# The notebooks are committed with the outputs of a real run; the docs show those outputs.
nb_execution_mode = "off"
# The chart widget's display bundle also carries a PNG: show that, so the chart is visible
# in the static site without a running kernel or widget JavaScript.
nb_mime_priority_overrides = [("html", "image/png", 5)]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpy-style docstrings give the types
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True

html_theme = "pydata_sphinx_theme"
html_title = "ipyparallel_ds"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []


def _generate_reference(app) -> None:
    """Write the option tables and the command's --help from the code."""
    from ipyparallel_ds.cli import build_parser

    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    rows = ["| option | meaning |", "| --- | --- |"]
    for option in _options.OPTIONS:
        text = option.help.replace("|", "\\|")
        rows.append(f"| `{option.flags}` | {text} |")
    (out / "magic-options.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    parser = build_parser()
    parser.prog = "parcompare"
    help_text = parser.format_help()
    (out / "cli-help.txt").write_text(help_text, encoding="utf-8")


def setup(app) -> None:
    app.connect("builder-inited", _generate_reference)
