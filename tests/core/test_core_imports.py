"""The import drawing of brainbatch: no loops, and the two fronts never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import brainbatch

PACKAGE = Path(brainbatch.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> brainbatch modules it imports (anywhere in the file, functions included)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path.name == "__init__.py", node)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != module:
                    graph[module].add(t)
    return graph


def _package_of(module: str) -> str:
    """``brainbatch.store.cache`` -> ``brainbatch.store``; top-level modules are their own."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_finds_imports() -> None:
    graph = import_graph()
    assert "brainbatch.models" in graph["brainbatch.runner"]
    assert "brainbatch.session" in graph["brainbatch.notebook.handle"]


def test_no_import_loops_between_packages() -> None:
    graph = import_graph()
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = _package_of(module)
        packages.setdefault(src, set()).update(
            _package_of(t) for t in targets if _package_of(t) != src and t != "brainbatch"
        )
    packages.pop("brainbatch", None)
    assert _cycles(packages) == []


def test_cli_and_notebook_never_import_each_other() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("brainbatch.cli"):
            assert not [t for t in targets if t.startswith("brainbatch.notebook")], module
        if module.startswith("brainbatch.notebook"):
            assert not [t for t in targets if t.startswith("brainbatch.cli")], module


def test_the_store_imports_no_provider() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("brainbatch.store"):
            assert not [t for t in targets if t.startswith("brainbatch.providers")], module
