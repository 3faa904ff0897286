"""planloop's graph: `build_graph()`, the compiled `graph`, and the one-call `run()` API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graph.api import arun, run
    from graph.builder import build_graph, graph

__all__ = ["arun", "build_graph", "graph", "run"]


def __getattr__(name: str) -> object:
    # Lazy so that `planloop --help` does not pay for importing LangGraph and LangChain.
    if name in ("build_graph", "graph"):
        from graph import builder

        return getattr(builder, name)
    if name in ("run", "arun"):
        from graph import api

        return getattr(api, name)
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
