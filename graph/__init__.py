"""planloop's graph and its front ends: `build_graph()`, the compiled `graph`, the one-call
`run()` API, and the `planloop` CLI.

- the StateGraph (nodes, edges): `graph.builder`; its routers, pure `route_after_<node>`
  functions: `graph.routing`
- the Python API (`run`, `arun`, `resume`, `drive`): `graph.api`; driving a thread (lock,
  journal, MCP servers, streaming): `graph.drive`; a thread's record and `RunOutcome`:
  `graph.outcome`
- reading threads back (list, show, history, prune): `graph.threads`, `graph.integrity`
- the CLI, its own subpackage `graph.cli`: `main`, the parser (`graph.cli.parser`), each
  command (`graph.cli.commands`) and their helpers (see `graph.cli`)

Layering: graph -> nodes -> tools, anyone -> checkpoints; the shared vocabulary of `nodes`
(state, context, errors) is importable everywhere.
"""

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
