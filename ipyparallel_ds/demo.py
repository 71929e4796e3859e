"""The seed experiment, run through a real IPython shell: ``python -m ipyparallel_ds.demo``.

It loads the digits data that ships with scikit-learn and runs
``%parcompare cross_val_score(SVC(), X, y, cv=20)`` at the default n_jobs values, exactly
as a learner would type it.
"""

from __future__ import annotations

SEED_SETUP = """\
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
"""
SEED_STATEMENT = "cross_val_score(SVC(), X, y, cv=20)"


def main() -> int:
    """Run the seed experiment in an IPython shell and print the report."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    shell.run_line_magic("load_ext", "ipyparallel_ds")
    print(f"In [1]: {SEED_SETUP.strip()}".replace("\n", "\n   ...: "))
    outcome = shell.run_cell(SEED_SETUP)
    outcome.raise_error()
    print(f"\nIn [2]: %parcompare {SEED_STATEMENT}\n", flush=True)
    shell.run_line_magic("parcompare", SEED_STATEMENT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
