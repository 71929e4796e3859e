"""The ``parcompare`` command (also ``python -m ipyparallel_ds``).

::

  parcompare [options] STATEMENT [--setup CODE]
  parcompare [options] --script train.py --stmt "search.fit(X, y)"
  parcompare demo [--front-page ROOT]
  parcompare check-script train.py

The options are the magic's, built from the same table (:mod:`ipyparallel_ds._options`), so
the two cannot drift. The table, verdict and warnings go to stdout; progress is one updating
line on stderr (none when stderr is not a terminal). Exit codes: 0 success, 1 the statement
(or the script) raised, 2 usage error, 130 interrupted before anything was measured.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

from . import _options, api, check_script, demo
from .display import TextProgress
from .statement import prepare

PROG = "parcompare"
EXIT_OK, EXIT_RAISED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_DESCRIPTION = """\
Time a statement at several n_jobs values, as %parcompare does in IPython, and show whether
running it on several cores pays off. Subcommands: 'parcompare demo' runs the seed experiment
(with '--front-page ROOT', it also writes its chart and table into ROOT's README.md and
docs/index.md); 'parcompare check-script FILE' finds parallel work that a script starts outside
'if __name__ == "__main__":'."""

# Options of the magic that only make sense in a notebook: accepted, with no effect here.
_NOTEBOOK_ONLY = ("o", "no-widget")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit code 2 with the bad value named, as argparse does
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: the magic's option table plus the command's own options."""
    parser = _Parser(prog=PROG, description=_DESCRIPTION, allow_abbrev=False)
    parser.add_argument("statement", nargs="?", help="the statement to time")
    own = parser.add_argument_group("command-line options")
    own.add_argument(
        "-s",
        "--setup",
        metavar="CODE",
        default="pass",
        help="setup code run before each timed run and not timed, as in timeit",
    )
    own.add_argument(
        "--script",
        metavar="PATH",
        help="run this script's top level first (its if __name__ == '__main__': block does not "
        "run) and time the statement in its namespace",
    )
    own.add_argument("--stmt", metavar="CODE", help="the statement, instead of STATEMENT")
    own.add_argument(
        "--json", action="store_true", help="print the result as JSON instead of the table"
    )
    shared = parser.add_argument_group("options shared with %parcompare")
    for option in _options.OPTIONS:
        flags = [f"-{option.short}"] if option.short else []
        flags += [f"--{option.long}"] if option.long else []
        text = option.help + (" (No effect here.)" if option.key in _NOTEBOOK_ONLY else "")
        text = text.replace("%", "%%")  # argparse formats help with %
        if option.takes_value:
            shared.add_argument(*flags, dest=option.key, metavar=option.metavar, help=text)
        else:
            shared.add_argument(*flags, dest=option.key, action="store_const", const="", help=text)
    return parser


def _options_of(args: argparse.Namespace) -> dict[str, str]:
    """Parsed options keyed as the magic keys them (absent ones left out)."""
    keys = {option.key for option in _options.OPTIONS}
    return {key: value for key, value in vars(args).items() if key in keys and value is not None}


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run_script(path: str) -> dict[str, Any]:
    """Run a script's top level as a module that is not ``__main__`` and return its globals.

    Its directory goes first on ``sys.path``, as with ``python script.py``.
    """
    import runpy

    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return runpy.run_path(path, run_name="__parcompare_script__")


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        if argv[1:2] == ["--front-page"] and len(argv) == 3:
            return demo.main(front_page=argv[2])
        if len(argv) > 1:
            return _usage_error(f"parcompare demo takes only --front-page ROOT, got {argv[1:]!r}")
        return demo.main()
    if argv[:1] == ["check-script"]:
        return check_script.main(argv[1:])
    args = build_parser().parse_args(argv)
    options = _options_of(args)
    statement = args.stmt if args.stmt is not None else args.statement
    if args.stmt is not None and args.statement is not None:
        return _usage_error(f"give the statement once: {args.statement!r} or --stmt {args.stmt!r}")
    if not statement or not statement.strip():
        return _usage_error(
            'there is no statement to time, e.g. parcompare "cross_val_score(SVC(), X, y)" '
            '--setup "..."'
        )
    try:
        invocation = api.parse_invocation(options)
        prepared = prepare(statement, args.setup)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return _usage_error(f"syntax error in the statement or setup{where}: {exc.msg}")
    except ValueError as exc:
        return _usage_error(str(exc))

    namespace: dict[str, Any] = {"__name__": "__parcompare__"}
    if args.script is not None:
        if not Path(args.script).is_file():
            return _usage_error(f"--script {args.script!r} is not a file")
        try:
            namespace = _run_script(args.script)
        except Exception:
            traceback.print_exc()
            print(f"{PROG}: the script {args.script!r} raised (above)", file=sys.stderr)
            return EXIT_RAISED

    progress = None if invocation.quiet else TextProgress(sys.stderr)
    try:
        result = api.run(
            prepared,
            invocation.plan,
            namespace,
            precision=invocation.precision,
            progress=progress,
        )
    except api.DataError as exc:
        return _usage_error(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before anything was measured", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConnectionError, TimeoutError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_RAISED
    except Exception:
        traceback.print_exc()
        print(f"{PROG}: the statement raised (above)", file=sys.stderr)
        return EXIT_RAISED
    finally:
        if progress is not None:
            progress.finish()
    if invocation.save:
        result.save(invocation.save)
    if args.json:
        print(result.to_json())
    elif not invocation.quiet:
        print(result.report())
    return EXIT_OK
