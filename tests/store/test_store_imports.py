"""The store's place among the modules: no import cycle inside it, no provider, no runner.

The import graph is read from the source with ``ast`` (every ``import``, also those inside
functions and under ``TYPE_CHECKING``), so a lazy import cannot hide a loop.
"""

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


def import_graph() -> dict[str, set[str]]:
    """brainbatch module -> the brainbatch modules it imports (anywhere in its source)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    root = ".".join(base + ([node.module] if node.module else []))
                else:
                    root = node.module or ""
                targets.add(root)
                targets.update(f"{root}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """A cycle among ``nodes`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node] & nodes):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(nodes):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "brainbatch.store.jobstore" in graph["brainbatch.store.cache"]  # TYPE_CHECKING
    assert "brainbatch.store" in graph["brainbatch.runner"]  # inside a function


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph, set(graph)) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}, {"a", "b"}) is None


def test_no_import_cycle_within_the_store() -> None:
    graph = import_graph()
    store = {m for m in graph if m.startswith("brainbatch.store.")}
    assert {"brainbatch.store.cache", "brainbatch.store.jobstore"} <= store
    assert _cycle(graph, store) is None


def test_the_store_imports_no_provider_and_no_runner() -> None:
    graph = import_graph()
    store = {m for m in graph if m == "brainbatch.store" or m.startswith("brainbatch.store.")}
    forbidden = ("brainbatch.providers", "brainbatch.runner", "brainbatch.notebook")
    found = {
        (m, t) for m in store for t in graph[m] if t.startswith(forbidden) or t == "brainbatch"
    }
    assert found == set()
