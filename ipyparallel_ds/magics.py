"""``%parcompare`` and ``%%parcompare``: a thin IPython layer over :mod:`ipyparallel_ds.api`.

The only module that imports ``IPython.core.magic``.
"""

from __future__ import annotations

import getopt
import re
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    no_var_expand,
    output_can_be_silenced,
)

from . import _options, _pools, backends

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .result import ParCompareResult
    from .statement import PreparedStatement

_MAGIC_DOC = """Time a statement at several n_jobs values and show the speedup.

**Usage, in line mode**::

  %parcompare [options] statement

**or in cell mode** (the first line is setup code, run before each timed run
and not timed; the cell body is the timed statement)::

  %%parcompare [options] setup_code
  code
  code...

Each n_jobs value k reaches the statement through
``joblib.parallel_config(n_jobs=k)``, which every scikit-learn/joblib call with
n_jobs unset obeys; literal ``n_jobs=`` keywords in the statement are rewritten
to k. For each value the first call runs on a freshly started worker pool and
is reported apart; warm-up calls follow until the pool is warm; then the timed
runs. The statement is kept verbatim: ``$x`` and ``{x}`` are not expanded.
A trailing ``;`` silences the returned result.

Options:

{options}

Examples
--------
::

  In [1]: from sklearn.datasets import load_digits
     ...: from sklearn.model_selection import cross_val_score
     ...: from sklearn.svm import SVC
     ...: X, y = load_digits(return_X_y=True)

  In [2]: %parcompare cross_val_score(SVC(), X, y, cv=20)

  In [3]: res = %parcompare -o -q -j 1,2,-1 -r 3 cross_val_score(SVC(), X, y, cv=20)
     ...: res.configs[1].speedup
"""


def _split_options(line: str) -> tuple[dict[str, str], str]:
    """Split leading options from the statement, keeping the statement verbatim.

    Options never contain spaces, so whitespace tokens are enough to find where they end;
    the statement is then the untouched rest of the line.
    """
    tokens = list(re.finditer(r"\S+", line))
    short, long = _options.getopt_spec()
    try:
        parsed, rest = getopt.getopt([t.group() for t in tokens], short, long)
    except getopt.GetoptError as exc:
        allowed = " ".join(o.flags.split()[0] for o in _options.OPTIONS)
        raise UsageError(f"%parcompare: {exc.msg} (options: {allowed})") from None
    consumed = len(tokens) - len(rest)
    statement = line[tokens[consumed].start() :] if rest else ""
    options = {_options.canonical_name(flag): value for flag, value in parsed}
    return options, statement


@magics_class
class ParCompareMagics(Magics):
    """The ``%parcompare`` magic."""

    @no_var_expand
    @output_can_be_silenced
    @line_cell_magic
    def parcompare(self, line: str = "", cell: str | None = None) -> ParCompareResult | None:
        # The engine is imported on first use, so that %load_ext stays cheap (this and
        # __init__ are the only in-package imports inside functions; see tests/test_layers.py).
        from . import api, display

        options, code = _split_options(line)
        try:
            invocation = api.parse_invocation(options)
        except ValueError as exc:
            raise UsageError(f"%parcompare: {exc}") from None

        if cell is None:
            statement, setup = code, "pass"
        else:
            statement, setup = cell, code or "pass"
        if not statement.strip():
            raise UsageError(
                "%parcompare: there is no statement to time, e.g. "
                "%parcompare cross_val_score(SVC(), X, y, cv=20)"
            )
        prepared = self._prepare(statement, setup)

        progress = None
        if not invocation.quiet:
            progress = display.progress_for(self.shell, prepared.statement, api.partial_result)
        try:
            result = api.run(
                prepared,
                invocation.plan,
                self.shell.user_ns,
                compiler=self.shell.compile,
                precision=invocation.precision,
                progress=progress,
            )
        finally:
            slot = progress.finish() if progress is not None else None
        if invocation.save:
            result.save(invocation.save)
        if not invocation.quiet:
            display.show(result, self.shell, widget="no-widget" not in options, handle=slot)
        return result if "o" in options else None

    def _prepare(self, statement: str, setup: str) -> PreparedStatement:
        """Transform (IPython syntax) and compile both pieces, raising UsageError on errors."""
        from .statement import prepare

        shell = self.shell
        trees = []
        for what, code in (("statement", statement), ("setup", setup)):
            try:
                tree = shell.compile.ast_parse(shell.transform_cell(code))
                trees.append(shell.transform_ast(tree))
            except SyntaxError as exc:
                raise UsageError(_syntax_message(what, exc)) from None
        try:
            return prepare(trees[0], trees[1], compiler=shell.compile, source=(statement, setup))
        except SyntaxError as exc:
            raise UsageError(_syntax_message("statement or setup", exc)) from None
        except ValueError as exc:
            raise UsageError(f"%parcompare: {exc}") from None


ParCompareMagics.parcompare.__doc__ = _MAGIC_DOC.replace("{options}", _options.options_help())


def _syntax_message(what: str, exc: SyntaxError) -> str:
    where = f" (line {exc.lineno})" if exc.lineno else ""
    text = f": {exc.text.strip()!r}" if exc.text and exc.text.strip() else ""
    return f"%parcompare: syntax error in the {what}{where}: {exc.msg}{text}"


def load(shell: InteractiveShell) -> None:
    """Register the magics with ``shell``."""
    shell.register_magics(ParCompareMagics)


def unload(shell: InteractiveShell) -> None:
    """Remove the magics, stop any cluster a measurement still has open, and shut down any
    worker pool a measurement left running."""
    manager = shell.magics_manager
    for kind in ("line", "cell"):
        manager.magics[kind].pop("parcompare", None)
    manager.registry.pop(ParCompareMagics.__name__, None)
    try:
        backends.close_all()
    finally:
        _pools.shutdown_pool_we_started()
