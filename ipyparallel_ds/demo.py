"""The seed experiment, run through a real IPython shell: ``python -m ipyparallel_ds.demo``.

It loads the digits data that ships with scikit-learn and runs
``%parcompare cross_val_score(SVC(), X, y, cv=20)`` at the default n_jobs values, exactly
as a learner would type it.
"""

from __future__ import annotations

from pathlib import Path

SEED_SETUP = """\
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
"""
SEED_STATEMENT = "cross_val_score(SVC(), X, y, cv=20)"
CHART = "parcompare-demo.png"


# `parcompare demo --front-page ROOT` (`make front-page`) also puts the chart and the table of
# the run on the front pages: the chart under ROOT, each page's text between the markers.
FRONT_PAGE_CHART = "docs/images/parcompare-demo.png"
FRONT_PAGES = (("README.md", FRONT_PAGE_CHART), ("docs/index.md", "images/parcompare-demo.png"))
START = "<!-- front page: written by `make front-page` (parcompare demo --front-page) -->"
END = "<!-- end of the front page's demo -->"


def main(chart: str | Path = CHART, front_page: str | Path | None = None) -> int:
    """Run the seed experiment in an IPython shell, print the report and save the chart;
    with ``front_page`` (a repository's root), also write its chart and table into the
    README and the docs' landing page (:func:`write_front_page`)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    shell.run_line_magic("load_ext", "ipyparallel_ds")
    print(f"In [1]: {SEED_SETUP.strip()}".replace("\n", "\n   ...: "))
    outcome = shell.run_cell(SEED_SETUP)
    outcome.raise_error()
    print(f"\nIn [2]: result = %parcompare -o {SEED_STATEMENT}\n", flush=True)
    result = shell.run_line_magic("parcompare", f"-o {SEED_STATEMENT}")
    chart = result.save(Path(chart).resolve())
    print(f"\nIn [3]: result.save({chart.name!r})\nChart written to {chart}")
    if front_page is not None:
        for page in write_front_page(result, Path(front_page)):
            print(f"Front page written: {page}")
    return 0


def machine_caption(environment: dict) -> str:
    """The machine a result was measured on, in one line: processor, cores, memory, system
    and versions."""
    import platform

    import psutil

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        model = names[0] if names else model
    except OSError:
        pass
    cores = environment.get("cores", {})
    versions = environment.get("versions", {})
    software = ", ".join(
        f"{name} {versions[name]}" for name in ("scikit-learn", "joblib") if versions.get(name)
    )
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{model}, {cores.get('usable', '?')} usable of {cores.get('logical', '?')} logical "
        f"cores, {memory:.0f} GiB, {platform.system()}, Python {platform.python_version()}, "
        f"{software}"
    )


def front_page_block(result, image: str, when: str) -> str:
    """The text between a front page's markers: the chart, its caption, the table and the
    verdict of ``result``."""
    import textwrap

    caption = (
        f"`make demo` ({SEED_STATEMENT} on the digits data) on {when} UTC, on "
        f"{machine_caption(result.environment)}."
    )
    verdict = textwrap.fill(result.verdict, 96)
    return (
        f"{START}\n![The speedup chart of make demo: speedup against workers, measured]({image})"
        f"\n\n*{caption}*\n\n```\n{result.table()}\n\n{verdict}\n```\n{END}"
    )


def write_front_page(result, root: Path) -> list[Path]:
    """Save ``result``'s chart under ``root`` and put it, with its table, between the markers
    of the README and of the docs' landing page; returns the files written."""
    import datetime as dt

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    pages = {}
    for name, image in FRONT_PAGES:  # every page is checked before anything is written
        page = root / name
        text = page.read_text(encoding="utf-8")
        if START not in text or END not in text:
            raise ValueError(f"{page} has no front-page markers ({START!r} ... {END!r})")
        before, rest = text.split(START, 1)
        pages[page] = before + front_page_block(result, image, when) + rest.split(END, 1)[1]
    chart = root / FRONT_PAGE_CHART
    chart.parent.mkdir(parents=True, exist_ok=True)
    written = [result.save(chart)]
    for page, text in pages.items():
        page.write_text(text, encoding="utf-8")
        written.append(page)
    return written


if __name__ == "__main__":
    raise SystemExit(main())
