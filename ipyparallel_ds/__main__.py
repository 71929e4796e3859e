"""``python -m ipyparallel_ds``: the ``parcompare`` command."""

from .cli import main

if __name__ == "__main__":  # spawned workers import this module again: start nothing then
    raise SystemExit(main())
