"""The layering, enforced over every import (module-level and inside functions).

- Shared vocabulary, importable from anywhere: `nodes.state` (with its `nodes.reducers`),
  `nodes.context`, `nodes.errors`.
- Otherwise graph -> nodes -> tools, and anyone -> checkpoints: never checkpoints or tools ->
  a node module, never nodes or tools or checkpoints -> graph.
- No import cycles between modules (a cycle means two modules that cannot be read alone).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "nodes", "tools", "checkpoints")
VOCABULARY = frozenset({"nodes.state", "nodes.reducers", "nodes.context", "nodes.errors"})
MAY_IMPORT = {
    "graph": {"graph", "nodes", "tools", "checkpoints"},
    "nodes": {"nodes", "tools", "checkpoints"},
    "tools": {"tools", "checkpoints"},
    "checkpoints": {"checkpoints"},
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _executed(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except what sits under `if TYPE_CHECKING:` (never imported)."""
    found: list[ast.AST] = []
    pending = [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                pending.extend(child.orelse)
            else:
                pending.append(child)
    return found


def imports() -> dict[str, set[str]]:
    """Module -> the planloop modules it imports (a package import counts as its __init__)."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = module_name(path)
            targets: set[str] = set()
            for node in _executed(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    base = node.module
                    targets.add(base)
                    targets.update(f"{base}.{alias.name}" for alias in node.names)
                elif isinstance(node, ast.Import):
                    targets.update(alias.name for alias in node.names)
            found[name] = {t for t in targets if t.split(".")[0] in PACKAGES}
    modules = set(found)
    return {name: {t for t in targets if t in modules} for name, targets in found.items()}


def test_no_import_runs_against_the_layering() -> None:
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in imports().items()
        for target in targets
        if target not in VOCABULARY
        and source not in VOCABULARY
        and target.split(".")[0] not in MAY_IMPORT[source.split(".")[0]]
    )
    assert wrong == []


def test_the_vocabulary_imports_only_itself() -> None:
    graph = imports()
    assert {f"{m} -> {t}" for m in VOCABULARY for t in graph[m] if t not in VOCABULARY} == set()


def test_no_import_cycles() -> None:
    graph = imports()
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target == trail[0] and len(trail) > 1:
                cycles.append([*trail, target])
            elif target not in trail and target > trail[0]:  # each cycle once, from its least
                visit(target, [*trail, target])

    for start in sorted(graph):
        visit(start, [start])
    packages = {name for name in graph if (REPO / name.replace(".", "/") / "__init__.py").exists()}
    # A package's __init__ re-exporting its modules is not a cycle a reader has to untangle.
    real = [c for c in cycles if not packages & set(c)]
    assert real == []
