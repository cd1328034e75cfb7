"""The shape of the package, read from the code's own imports (ast, no import is executed).

Layers in one order, each importing only from its own layer or an earlier one:
core -> config -> models -> optvis -> metrics -> jobs -> cache, dataset -> compute, measure ->
pages -> figures -> plan -> stages -> site -> check -> build -> commands -> cli. No import cycle
between modules, and no `generator` import inside a function outside `cli.py` and `commands/` (an
import hidden in a function is how a cycle hides).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "generator"

# The first part of a module's name below `generator` -> its layer. A new top-level module or
# package must be placed here, in the order of the data flow.
ORDER = [
    ("__init__",),
    ("core",),
    ("config",),
    ("models",),
    ("optvis",),
    ("metrics",),
    ("jobs",),
    ("cache", "dataset"),
    ("compute", "measure", "atlas"),
    ("pages",),
    ("figures",),
    ("plan",),
    ("stages",),
    ("site",),
    ("check",),
    ("build",),
    ("serve",),
    ("commands",),
    ("cli", "__main__"),
]
LAYER = {name: rank for rank, names in enumerate(ORDER) for name in names}
INLINE_OK = ("generator.cli", "generator.commands")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module a dotted name refers to: itself, or the longest module that prefixes it."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of `generator` in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                names = [f"{base}.{a.name}" for a in child.names]
            for name in names:
                if name.split(".")[0] == "generator":
                    out.append((resolve(name), child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return out


def layer_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    if first not in LAYER:
        raise AssertionError(f"{module}: not placed in a layer; add '{first}' to ORDER")
    return LAYER[first]


GRAPH = {m: sorted({target for target, _, _ in imports(m) if target != m}) for m in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_go_down_the_layers_only() -> None:
    wrong = []
    for module in MODULES:
        for target, line, _ in imports(module):
            if layer_of(target) > layer_of(module):
                wrong.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {target}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in GRAPH[module]:
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                walk(target)
        stack.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            walk(module)


def test_no_generator_import_inside_a_function() -> None:
    hidden = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {target}"
        for module in MODULES
        if not module.startswith(INLINE_OK)
        for target, line, inner in imports(module)
        if inner
    ]
    assert not hidden, "imports inside functions:\n" + "\n".join(hidden)


def test_the_graph_is_read_from_the_code() -> None:
    """Not vacuous: known edges across layer boundaries are found, including the package's own."""
    assert "generator.core.errors" in GRAPH["generator.models.base"]
    assert "generator.compute" in GRAPH["generator.stages.rounds"]
    assert "generator.figures.registry" in GRAPH["generator.figures"]
    assert layer_of("generator.cli") > layer_of("generator.commands.build") > layer_of(
        "generator.build"
    ) > layer_of("generator.site.render") > layer_of("generator.core.errors")
