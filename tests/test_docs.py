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
