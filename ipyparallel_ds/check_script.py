"""``parcompare check-script``: find parallel work a script starts at import time.

Worker processes started with the *spawn* or *forkserver* method (dask's workers, and
multiprocessing's default outside Linux, and on Linux from Python 3.14) import the script's
main module again. Code at the script's top level then runs once more in every worker. If
that code starts parallel work itself, the workers try to start workers of their own, and the
run fails or hangs. The fix is the ``if __name__ == "__main__":`` guard: only the process that
runs the script executes what is under it.

This module reads a script without running it and lists each top-level statement that would
start parallel work outside such a guard:

- a call with ``n_jobs=`` set to anything but 1 or None;
- a joblib ``Parallel(...)`` call;
- a scikit-learn helper that runs joblib (``cross_val_score``, ``learning_curve``, ...);
- ``.fit(...)`` (or ``fit_transform``, ``fit_predict``) of an estimator built at the top level
  with n_jobs, or of a search or ensemble that can run in parallel;
- a call to a function of the script whose body does any of the above.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

# scikit-learn functions that run joblib.Parallel themselves.
PARALLEL_HELPERS = frozenset(
    {
        "cross_val_score",
        "cross_validate",
        "cross_val_predict",
        "learning_curve",
        "validation_curve",
        "permutation_test_score",
        "permutation_importance",
        "partial_dependence",
    }
)
# Estimators whose fit runs joblib when n_jobs is set or a parallel_config is active.
PARALLEL_ESTIMATORS = frozenset(
    {
        "GridSearchCV",
        "RandomizedSearchCV",
        "HalvingGridSearchCV",
        "HalvingRandomSearchCV",
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "BaggingClassifier",
        "BaggingRegressor",
        "VotingClassifier",
        "VotingRegressor",
        "StackingClassifier",
        "StackingRegressor",
        "MultiOutputClassifier",
        "MultiOutputRegressor",
        "OneVsRestClassifier",
        "OneVsOneClassifier",
        "IsolationForest",
    }
)
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_predict"})
# joblib's configuration: setting n_jobs there starts nothing by itself.
CONFIGURATION = frozenset({"parallel_config", "parallel_backend"})

FIX = 'move it under  if __name__ == "__main__":  (or into a function called from there)'


@dataclass(frozen=True)
class Finding:
    """One top-level statement that starts parallel work outside the guard."""

    line: int
    code: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.code}\n    {self.why}; {FIX}."


def _name(func: ast.expr) -> str:
    """``cross_val_score`` for ``cross_val_score(...)`` or ``model_selection.cross_val_score``."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _explicit_serial(call: ast.Call) -> bool:
    """``n_jobs=1`` written in the call: it runs in the calling process."""
    return any(
        k.arg == "n_jobs" and isinstance(k.value, ast.Constant) and k.value.value == 1
        for k in call.keywords
    )


def _n_jobs_parallel(call: ast.Call) -> bool:
    if _name(call.func) in CONFIGURATION:
        return False
    for keyword in call.keywords:
        if keyword.arg == "n_jobs":
            value = keyword.value
            return not (isinstance(value, ast.Constant) and value.value in (1, None))
    return False


def _parallel_estimator(call: ast.Call) -> bool:
    """An estimator built with n_jobs, or a search or ensemble not pinned to n_jobs=1."""
    if _n_jobs_parallel(call):
        return True
    return _name(call.func) in PARALLEL_ESTIMATORS and not _explicit_serial(call)


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


class _Walker:
    """Finds parallel work in statements, following the script's own functions."""

    def __init__(self, tree: ast.Module) -> None:
        self.functions = {
            node.name: node
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.parallel_objects: set[str] = set()  # names bound to parallel estimators
        self._function_cache: dict[str, str | None] = {}

    def why(self, call: ast.Call, local_objects: set[str]) -> str | None:
        name = _name(call.func)
        if name == "Parallel" or (
            isinstance(call.func, ast.Call) and _name(call.func.func) == "Parallel"
        ):
            return "joblib.Parallel starts worker processes"
        if _n_jobs_parallel(call):
            return f"{name or 'this call'}(n_jobs=...) runs in parallel"
        if name in PARALLEL_HELPERS and not _explicit_serial(call):
            return f"{name} runs its folds through joblib"
        if name in FIT_METHODS and isinstance(call.func, ast.Attribute):
            target = call.func.value
            if isinstance(target, ast.Name) and target.id in local_objects:
                return f"{target.id}.{name} fits an estimator that runs in parallel"
            if isinstance(target, ast.Call) and _parallel_estimator(target):
                return f"{_name(target.func)}(...).{name} fits in parallel"
        if name in self.functions:
            inner = self.function_why(name)
            if inner:
                return f"{name}() runs parallel work ({inner})"
        return None

    def function_why(self, name: str) -> str | None:
        if name not in self._function_cache:
            self._function_cache[name] = None  # breaks recursion
            found = self.scan(self.functions[name].body, set(self.parallel_objects))
            self._function_cache[name] = f"line {found[0].line}: {found[0].why}" if found else None
        return self._function_cache[name]

    def scan(self, body: list[ast.stmt], objects: set[str]) -> list[Finding]:
        """Findings in statements that run when ``body`` runs (not in nested definitions,
        not under a main guard)."""
        findings = []
        for statement in body:
            if isinstance(
                statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ) or _is_main_guard(statement):
                continue
            self._bind(statement, objects)
            seen_lines = set()
            for node in _walk_statement(statement):
                if isinstance(node, ast.Call):
                    why = self.why(node, objects)
                    if why and node.lineno not in seen_lines:
                        seen_lines.add(node.lineno)
                        findings.append(Finding(node.lineno, _source(node), why))
        return findings

    @staticmethod
    def _bind(statement: ast.stmt, objects: set[str]) -> None:
        """Remember names assigned a parallel estimator (``search = GridSearchCV(...)``)."""
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
            call = statement.value
            if _parallel_estimator(call):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        objects.add(target.id)


def _walk_statement(statement: ast.stmt):
    """Every node of a statement, without descending into nested definitions, lambdas or
    main guards (code there does not run when the statement runs)."""
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
            ) or (isinstance(child, ast.stmt) and _is_main_guard(child)):
                continue
            stack.append(child)


def _source(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


def check_source(source: str, filename: str = "<script>") -> list[Finding]:
    """Top-level statements of ``source`` that start parallel work outside a main guard,
    in line order. Raises SyntaxError if the source does not parse."""
    tree = ast.parse(source, filename=filename)
    walker = _Walker(tree)
    findings = walker.scan(tree.body, walker.parallel_objects)
    return sorted(findings, key=lambda f: f.line)


def check_script(path: str | Path) -> list[Finding]:
    """:func:`check_source` of a file."""
    path = Path(path)
    return check_source(path.read_text(encoding="utf-8"), str(path))


def main(argv: list[str]) -> int:
    """``parcompare check-script FILE...``: 0 when every script is guarded, 1 when some
    parallel work runs at import time, 2 for a usage error (no file, unreadable, bad syntax)."""
    if not argv or any(a in ("-h", "--help") for a in argv):
        stream = sys.stdout if argv else sys.stderr
        print("usage: parcompare check-script FILE [FILE ...]", file=stream)
        print(__doc__.split("\n\n")[1].replace("\n", " ") if argv else "", file=stream)
        return 0 if argv else 2
    status = 0
    for name in argv:
        try:
            findings = check_script(name)
        except OSError as exc:
            print(f"parcompare check-script: cannot read {name!r}: {exc.strerror}", file=sys.stderr)
            return 2
        except SyntaxError as exc:
            print(
                f"parcompare check-script: {name!r} has a syntax error at line {exc.lineno}: "
                f"{exc.msg}",
                file=sys.stderr,
            )
            return 2
        if findings:
            status = 1
            count = len(findings)
            print(
                f"{name}: {count} statement{'s' if count != 1 else ''} would start parallel "
                "work when the script is imported, which worker processes started with spawn "
                "do:"
            )
            for finding in findings:
                print(f"  {finding}")
        else:
            print(f"{name}: no parallel work at import time; the script is safe for spawn.")
    return status
