"""The statement: parsed and checked before anything runs, its ``n_jobs=`` keywords found and
rewritten, and the timing function built from it as IPython's ``%timeit`` builds its own."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["PreparedStatement", "compile_plain", "prepare", "preset_n_jobs", "timing_function"]


def compile_plain(source: Any, filename: str, mode: str) -> Any:
    """``compile()`` as plain Python compiles the user's code: without inheriting this
    module's ``from __future__`` flags (``annotations`` would change what the code does).
    IPython passes its own compiler instead, which keeps the session's flags."""
    return compile(source, filename, mode, dont_inherit=True)


@dataclass(frozen=True)
class PreparedStatement:
    """Parsed, checked statement and setup code, ready to be timed.

    ``n_jobs_keywords`` counts the literal ``n_jobs=`` keywords of the statement (rewritten
    to each value), ``nested_n_jobs`` says whether one of them sits inside the arguments of
    another call that has one, and ``setup_n_jobs_keywords`` counts those of the setup code,
    which are not rewritten.
    """

    statement: str
    setup: str
    stmt_ast: ast.Module
    setup_ast: ast.Module
    n_jobs_keywords: int
    nested_n_jobs: bool = False
    setup_n_jobs_keywords: int = 0

    @property
    def returns_value(self) -> bool:
        """Whether the statement ends with an expression (whose value can be compared)."""
        return bool(self.stmt_ast.body) and isinstance(self.stmt_ast.body[-1], ast.Expr)

    def names(self) -> list[str]:
        """Names the statement reads (to look for objects built before it)."""
        found = []
        for node in ast.walk(self.stmt_ast):
            is_read = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
            if is_read and node.id not in found:
                found.append(node.id)
        return found


def _parse(code: str | ast.Module, what: str) -> ast.Module:
    if isinstance(code, ast.Module):
        return code
    if not isinstance(code, str):
        raise TypeError(f"the {what} must be a string of Python code, got {type(code).__name__}")
    return ast.parse(code, filename=f"<parcompare-{what}>", mode="exec")


class _NJobsKeywords(ast.NodeTransformer):
    """Set every literal ``n_jobs=`` keyword of a call to ``value`` (or only count them)."""

    def __init__(self, value: int | None = None) -> None:
        self.value = value
        self.count = 0

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        for keyword in node.keywords:
            if keyword.arg == "n_jobs":
                self.count += 1
                if self.value is not None:
                    keyword.value = ast.copy_location(ast.Constant(self.value), keyword.value)
        return node


def prepare(
    stmt: str | ast.Module,
    setup: str | ast.Module = "pass",
    *,
    compiler: Callable[..., Any] = compile_plain,
    source: tuple[str, str] | None = None,
) -> PreparedStatement:
    """Parse and compile the statement and setup before anything runs.

    Parameters
    ----------
    stmt, setup : str or ast.Module
        Python code. The magic passes modules already transformed by IPython.
    compiler : callable
        ``compile``-like function (IPython passes its own, which keeps the session's
        ``__future__`` flags); the default compiles as plain Python would.
    source : (str, str), optional
        The statement and setup as the user wrote them, when ``stmt``/``setup`` are ASTs.

    Raises
    ------
    SyntaxError
        If either piece of code does not compile.
    ValueError
        If the statement is empty.
    """
    if isinstance(stmt, str) and not stmt.strip():
        raise ValueError("there is no statement to time: give one, e.g. %parcompare f(X, y)")
    stmt_ast = _parse(stmt, "statement")
    setup_ast = _parse(setup, "setup")
    if not stmt_ast.body:
        shown = source[0] if source is not None else stmt
        raise ValueError(f"the statement {shown!r} has no code to time (only comments?)")
    # Compile each piece alone first, as %timeit does: code that is invalid on its own can
    # become valid inside the timing function and give confusing errors there.
    compiler(stmt_ast, "<parcompare-statement>", "exec")
    compiler(setup_ast, "<parcompare-setup>", "exec")
    counter = _NJobsKeywords()
    counter.visit(copy.deepcopy(stmt_ast))
    setup_counter = _NJobsKeywords()
    setup_counter.visit(copy.deepcopy(setup_ast))
    if source is None:
        source = (
            stmt if isinstance(stmt, str) else ast.unparse(stmt_ast),
            setup if isinstance(setup, str) else ast.unparse(setup_ast),
        )
    return PreparedStatement(
        source[0],
        source[1],
        stmt_ast,
        setup_ast,
        counter.count,
        nested_n_jobs=_has_nested_n_jobs(stmt_ast),
        setup_n_jobs_keywords=setup_counter.count,
    )


def _sets_n_jobs(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and any(k.arg == "n_jobs" for k in node.keywords)


def _has_nested_n_jobs(tree: ast.AST) -> bool:
    """Whether a call with ``n_jobs=`` has another such call among its arguments."""
    for node in ast.walk(tree):
        if _sets_n_jobs(node):
            inner = [*node.args, *(k.value for k in node.keywords)]
            if any(_sets_n_jobs(sub) for arg in inner for sub in ast.walk(arg)):
                return True
    return False


_TEMPLATE = """
def inner(_it, _timer):
    setup
    _parcompare_value = None
    _t0 = _timer()
    for _i in _it:
        stmt
    _t1 = _timer()
    return _t1 - _t0, _parcompare_value
"""
_VALUE = "_parcompare_value"


def _keeping_value(stmt: ast.Module) -> ast.Module:
    """The statement with its final expression's value stored in ``_parcompare_value``, so
    that results can be compared across n_jobs values (one local assignment per loop)."""
    if stmt.body and isinstance(stmt.body[-1], ast.Expr):
        last = stmt.body[-1]
        target = ast.Name(id=_VALUE, ctx=ast.Store())
        stmt.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
    return stmt


class _FillTemplate(ast.NodeTransformer):
    """Put setup and statement ASTs into the timing function, as IPython's %timeit does,
    so that assignments in the statement stay local to it."""

    def __init__(self, setup: ast.Module, stmt: ast.Module) -> None:
        self.setup = setup
        self.stmt = stmt

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if node.name == "inner":
            node.body[:1] = self.setup.body or [ast.Pass()]
        return node

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        if isinstance(node.target, ast.Name) and node.target.id == "_i":
            node.body = self.stmt.body
        return node


def timing_function(
    prepared: PreparedStatement,
    n_jobs: int,
    namespace: dict[str, Any],
    *,
    compiler: Callable[..., Any] = compile_plain,
    keep_value: bool = False,
) -> Callable[..., tuple[float, Any]]:
    """``inner(iterations, timer) -> (seconds, value)`` for the statement with its literal
    ``n_jobs=`` keywords set to ``n_jobs``; the namespace is its globals and is left as it was."""
    stmt = _NJobsKeywords(n_jobs).visit(copy.deepcopy(prepared.stmt_ast))
    if keep_value:
        stmt = _keeping_value(stmt)
    setup = copy.deepcopy(prepared.setup_ast)
    tree = _FillTemplate(setup, stmt).visit(ast.parse(_TEMPLATE))
    code = compiler(ast.fix_missing_locations(tree), "<parcompare>", "exec")
    local: dict[str, Any] = {}
    had_builtins = "__builtins__" in namespace
    exec(code, namespace, local)
    if not had_builtins:  # exec() adds it; leave the namespace as it was
        namespace.pop("__builtins__", None)
    return local["inner"]


def preset_n_jobs(prepared: PreparedStatement, namespace: dict[str, Any]) -> dict[str, object]:
    """Objects the statement uses whose n_jobs was already set (directly, as a key of a dict
    of keyword arguments, or, for scikit-learn meta-estimators, on an inner estimator):
    ``{name: n_jobs}``."""
    import inspect

    found: dict[str, object] = {}
    for name in prepared.names():
        obj = namespace.get(name)
        if (
            obj is None
            or inspect.ismodule(obj)
            or inspect.isclass(obj)
            or (callable(obj) and (inspect.isfunction(obj) or inspect.isbuiltin(obj)))
        ):
            continue
        # A dict of keyword arguments (``**common_params``) carries n_jobs as a key.
        value = obj.get("n_jobs") if isinstance(obj, dict) else getattr(obj, "n_jobs", None)
        if value is None and hasattr(obj, "get_params"):
            try:
                params = obj.get_params(deep=True)
            except Exception:  # not a scikit-learn estimator after all
                params = {}
            value = next(
                (v for k, v in params.items() if k.endswith("n_jobs") and v is not None), None
            )
        if value is not None and not isinstance(value, bool) and isinstance(value, int):
            found[name] = value
    return found
