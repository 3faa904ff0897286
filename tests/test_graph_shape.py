"""The graph's shape is pinned: its Mermaid drawing is a reviewed snapshot, and the README's
diagram shows exactly its nodes and edges (a node or edge added to one and not the other fails).

After an intended change to the graph,
`PLANLOOP_UPDATE_SNAPSHOTS=1 pytest tests/test_graph_shape.py`
rewrites the snapshot; then update the README's diagram by hand (its labels explain the edges).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from graph.builder import build_graph

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "tests" / "snapshots" / "graph.mmd"
EDGE = re.compile(r"^\s*(\w+)(?:\(\[[^\]]*\]\))?\s+(-->|-\.->)(?:\|[^|]*\|)?\s+(\w+)")


def edges(mermaid: str) -> set[tuple[str, str, bool]]:
    """(source, target, conditional) for every edge of a Mermaid flowchart."""
    found = set()
    for line in mermaid.splitlines():
        match = EDGE.match(line)
        if match:
            source, arrow, target = match.groups()
            found.add((source, target, arrow == "-.->"))
    return found


def readme_diagram() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("```mermaid", 1)[1].split("```", 1)[0]


def test_the_graph_matches_its_snapshot() -> None:
    drawn = build_graph().compile().get_graph().draw_mermaid()
    if os.environ.get("PLANLOOP_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(drawn, encoding="utf-8")
    assert drawn == SNAPSHOT.read_text(encoding="utf-8")


def test_the_readme_diagram_shows_the_graph() -> None:
    graph = edges(build_graph().compile().get_graph().draw_mermaid())
    assert graph, "no edges parsed from the graph's drawing"
    assert edges(readme_diagram()) == graph
