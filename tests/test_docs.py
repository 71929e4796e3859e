"""The documentation site builds with warnings as errors and shows what the code defines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ipyparallel_ds import _options

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout + build.stderr
    return out


def test_every_notebook_is_a_page_and_shows_its_chart(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for notebook in notebooks:
        page = site / "notebooks" / f"{notebook.stem}.html"
        assert page.exists(), page
    quickstart = (site / "notebooks" / "00-quickstart.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', quickstart)
    assert images and all((site / "notebooks" / src).resolve().exists() for src in images)


def test_reference_is_generated_from_the_option_table(site):
    reference = (site / "reference.html").read_text(encoding="utf-8")
    for option in _options.OPTIONS:
        assert option.flags.split()[0] in reference, option.flags
    assert "--script" in reference and "check-script" in reference


def test_api_reference_comes_from_the_docstrings(site):
    api = (site / "api.html").read_text(encoding="utf-8")
    for name in ("ipyparallel_ds.parcompare", "ParCompareResult", "ConfigTiming", "from_json"):
        assert name in api


def test_the_front_pages_show_the_chart_and_table_of_one_demo_run(site):
    """README and the landing page carry what `make front-page` wrote: the chart (a PNG in
    the repository, shown on the built page) with the machine in its caption, and the same
    table, from one run."""
    from ipyparallel_ds import demo

    blocks = []
    for name, image in demo.FRONT_PAGES:
        text = (ROOT / name).read_text(encoding="utf-8")
        block = text.split(demo.START, 1)[1].split(demo.END, 1)[0]
        assert f"]({image})" in block and "usable of" in block and "n_jobs" in block
        blocks.append(block.split("\n\n", 1)[1])  # caption, table and verdict
    assert blocks[0] == blocks[1]
    assert (ROOT / demo.FRONT_PAGE_CHART).read_bytes().startswith(b"\x89PNG")
    landing = (site / "index.html").read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', landing)
    assert images and all((site / src).resolve().exists() for src in images)
