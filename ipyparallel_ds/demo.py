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


def main(chart: str | Path = CHART) -> int:
    """Run the seed experiment in an IPython shell, print the report and save the chart."""
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
