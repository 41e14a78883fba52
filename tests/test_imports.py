"""The import graph of `raydd/`, read statically: no circles, and spec/ modules share public names only.

Every `import` and `from ... import` counts, at module level or inside a function (a lazy import
still ties the two modules together), except those under `if TYPE_CHECKING:`, which never run.
An import names the module it loads: `from raydd.spec.model import X` is an arrow to
`raydd.spec.model` (not to the package `raydd.spec`), and `from raydd.core import archs` one to
`raydd.core.archs` when that is a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "raydd"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Import statements that run (TYPE_CHECKING blocks left out)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        todo.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The raydd modules `module` imports."""
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
            continue
        target = _absolute(node, module, path.name == "__init__.py")
        for alias in node.names:
            submodule = f"{target}.{alias.name}"
            found.add(submodule if submodule in known else target)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_finds_a_circle_and_a_lazy_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from raydd.y import T\n"
              "def f():\n    from raydd import y\n")
    path = tmp_path / "x.py"
    path.write_text(source)
    assert imports_of("raydd.x", path, {"raydd", "raydd.x", "raydd.y"}) == {"raydd.y"}
    path.write_text("from raydd.y import T\nfrom . import y\n")
    assert imports_of("raydd.x", path, {"raydd", "raydd.x", "raydd.y"}) == {"raydd.y"}


def test_raydd_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and "raydd.spec.load" in graph["raydd.spec"]  # the reader sees the package
    assert circles(graph) == []


def test_spec_modules_share_only_public_names():
    """Modules of raydd/spec import each other's public names only (no `from raydd.spec.x import _y`)."""
    private = []
    for path in sorted((PACKAGE / "spec").glob("*.py")):
        for node in _import_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("raydd.spec"):
                private += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []
