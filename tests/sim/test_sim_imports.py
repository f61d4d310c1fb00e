"""The modules of ``brainbatch.sim`` import each other without a cycle (imports inside
functions included: a lazy import is still a loop, only hidden)."""

from __future__ import annotations

import ast
from pathlib import Path

import brainbatch

ROOT = Path(brainbatch.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of brainbatch it imports}``, from every ``import`` statement."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # "from pkg import name" imports pkg.name when that is a module
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def cycles_within(graph: dict[str, set[str]], prefix: str) -> list[list[str]]:
    """Every import cycle among the modules named ``prefix`` or ``prefix.*``."""
    inside = {m for m in graph if m == prefix or m.startswith(prefix + ".")}
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m] & inside):
            if state.get(n) == 1:
                found.append([*path[path.index(n) :], n])
            elif n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(inside):
        if m not in state:
            visit(m)
    return found


def test_the_graph_sees_the_sim_modules_and_their_imports():
    graph = import_graph()
    assert "brainbatch.sim.batches" in graph["brainbatch.sim.server"]
    assert "brainbatch.sim.common" in graph["brainbatch.sim.batches"]


def test_a_lazy_import_loop_counts_as_a_cycle():
    graph = {"p.a": {"p.b"}, "p.b": {"p.a"}, "q": {"p.a"}}
    assert cycles_within(graph, "p") == [["p.a", "p.b", "p.a"]]


def test_brainbatch_sim_has_no_import_cycle():
    assert cycles_within(import_graph(), "brainbatch.sim") == []
