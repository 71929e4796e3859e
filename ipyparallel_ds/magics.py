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
    needs_local_scope,
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
is reported apart; then the timed runs, paired with serial runs, until the
speedup's interval settles the answer (runs still warming up are set apart).
The statement is kept verbatim: ``$x`` and ``{x}`` are not expanded.
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


class _CompletionParser:
    """What IPython's completer asks a magic with arguments for (``parser.parse_argstring``):
    the line split into options and the statement, so that Tab completes inside the
    statement as after ``%timeit -n 2``."""

    def parse_argstring(self, argstring: str, *, partial: bool = False):
        try:
            options, statement = _split_options(argstring)
        except UsageError:
            if not partial:
                raise
            return {}, [argstring]
        return options, [statement]


@magics_class
class ParCompareMagics(Magics):
    """The ``%parcompare`` magic."""

    @no_var_expand
    @output_can_be_silenced
    @needs_local_scope
    @line_cell_magic
    def parcompare(
        self, line: str = "", cell: str | None = None, local_ns: dict | None = None
    ) -> ParCompareResult | None:
        # The engine is imported on first use, so that %load_ext stays cheap (this and
        # __init__ are the only in-package imports inside functions; see tests/test_layers.py).
        from . import api

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
        result = self._measure(prepared, invocation, options, local_ns)
        return result if "o" in options else None

    def _namespace(self, local_ns: dict | None) -> dict:
        """The statement's globals: the user namespace, with the caller's locals on top when
        the magic runs inside a function (as %timeit does); a copy then, so that none of
        those locals is left in the user namespace."""
        user_ns = self.shell.user_ns
        if local_ns is None or local_ns is user_ns:
            return user_ns
        return {**user_ns, **local_ns}

    def _measure(self, prepared, invocation, options, local_ns) -> ParCompareResult:
        from . import api, display

        progress = None
        if not invocation.quiet:
            progress = display.progress_for(self.shell, prepared.statement, api.partial_result)
        try:
            result = api.run(
                prepared,
                invocation.plan,
                self._namespace(local_ns),
                compiler=self.shell.compile,
                precision=invocation.precision,
                progress=progress,
                raise_interrupt=True,
            )
        except api.DataError as exc:  # --data that does not fit: before anything ran
            if progress is not None:
                progress.finish()
            raise UsageError(f"%parcompare: {exc}") from None
        except api.SweepInterrupted as stopped:
            # Ctrl-C: what was measured is shown, then the cell stops as after any Ctrl-C;
            # the partial result stays reachable as sys.last_value.result.
            self._show(stopped.result, invocation, options, progress)
            raise
        except BaseException:
            if progress is not None:
                progress.finish()
            raise
        self._show(result, invocation, options, progress)
        return result

    def _show(self, result, invocation, options, progress) -> None:
        from . import display

        slot = progress.finish() if progress is not None else None
        if invocation.save:
            result.save(invocation.save)
        if not invocation.quiet:
            display.show(result, self.shell, widget="no-widget" not in options, handle=slot)

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
# IPython's completer strips a magic's options before completing only for magics that say
# they have arguments and expose a parser.
ParCompareMagics.parcompare.parser = _CompletionParser()
ParCompareMagics.parcompare.has_arguments = True


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
