"""The package's layers, read from its source: each module imports only its own layer or those
below, no import cycle (imports inside functions included), and in-package imports inside
functions only where ``%load_ext`` must stay cheap. Also the size limits of modules and
functions, so that the file list keeps telling a newcomer where things are.

``docs/architecture.md`` explains the layers; this list is their single definition.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ipyparallel_ds"

# Bottom to top. A module may import modules of its own layer (without cycles) or below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bottom", ("_version", "_format", "stats", "_events")),
    ("machine", ("environment", "_pools")),
    (
        "where it runs",
        (
            "backends",
            "backends._deadline",
            "backends.base",
            "backends.local",
            "backends._cluster",
            "backends.dask",
            "backends.ipyparallel",
            "backends.ray",
        ),
    ),
    ("points", ("_points", "timing")),
    ("options", ("_options", "_validate")),
    (
        "observing",
        ("_sampling", "_memory", "_threads", "_tasks", "_joblib_calls", "_observation", "_observe"),
    ),
    ("measuring", ("statement", "timer", "plan", "progress", "_point_state", "sweep", "_probe")),
    ("analysing", ("scaling", "prediction", "same_result", "precision", "data_size")),
    (
        "telling",
        (
            "checks._base",
            "checks.events",
            "checks.ran",
            "checks.threads",
            "checks.timings",
            "checks",
            "size_words",
            "verdict",
            "report",
        ),
    ),
    ("showing", ("plot_sizes", "plot", "widget", "display")),
    ("export", ("export",)),
    ("result", ("result",)),
    ("api", ("_sizes", "api")),
    ("front ends", ("magics", "cli", "check_script", "demo", "__main__", "__init__")),
)
LEVEL = {module: level for level, (_, modules) in enumerate(LAYERS) for module in modules}
# The extension's front doors import the engine on first use, so that `import ipyparallel_ds`
# and `%load_ext` stay cheap (benchmarks/load_cost.py): their in-package imports inside
# functions are allowed, and are still checked for direction and cycles.
LAZY_FRONT_DOORS = ("__init__", "magics")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package's modules an import statement names (``from . import a, b`` names two)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.startswith("ipyparallel_ds")]
        return [n.removeprefix("ipyparallel_ds").lstrip(".") or "__init__" for n in names]
    if node.level == 0:
        if not (node.module or "").startswith("ipyparallel_ds"):
            return []
        base = node.module.removeprefix("ipyparallel_ds").lstrip(".")
    else:
        is_package = MODULES[module].name == "__init__.py"
        here = module.split(".") if module != "__init__" else []
        parent = here if is_package else here[:-1]
        parent = parent[: len(parent) - (node.level - 1)] if node.level > 1 else parent
        base = ".".join([*parent, *([node.module] if node.module else [])])
    found = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}" if base else alias.name
        found.append(candidate if candidate in MODULES else base or "__init__")
    return found


def imports(module: str) -> list[tuple[str, bool, int]]:
    """(imported module, inside a function, line) for each in-package import, skipping
    ``if TYPE_CHECKING:`` blocks (annotations only)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if _type_checking(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _resolve(module, node):
                if target != module and target in MODULES:
                    found.append((target, in_function, node.lineno))
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(LEVEL)) == []
    assert sorted(set(LEVEL) - set(MODULES)) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    upward = [
        f"line {line}: {module} ({LAYERS[LEVEL[module]][0]}) imports {target} "
        f"({LAYERS[LEVEL[target]][0]})"
        for target, _, line in imports(module)
        if LEVEL[target] > LEVEL[module]
    ]
    assert upward == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_in_package_import_inside_a_function(module):
    if module in LAZY_FRONT_DOORS:
        return
    hidden = [f"line {line}: {target}" for target, inside, line in imports(module) if inside]
    assert hidden == []


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in imports(m)} for m in MODULES}
    # A package's __init__ importing its own submodules is how a registry works, and the
    # submodules importing siblings is not a cycle through __init__.
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_and_function_sizes(module):
    text = MODULES[module].read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            lines = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{node.name}: {lines} lines")
    assert long == []


def test_the_checker_sees_an_upward_import_and_a_hidden_one(tmp_path, monkeypatch):
    """The rules above can fail: a fake bottom module importing the api inside a function."""
    fake = PACKAGE / "_format.py"
    source = fake.read_text(encoding="utf-8") + "\n\ndef _f():\n    from . import api\n"
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: source)
    found = imports("_format")
    assert ("api", True, source.count("\n")) in found
    assert LEVEL["api"] > LEVEL["_format"]
