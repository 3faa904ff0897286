"""The distribution's shape: four import packages, the console script, langgraph.json."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "nodes", "tools", "checkpoints")


@pytest.mark.parametrize("name", PACKAGES)
def test_no_other_distribution_provides_the_package(name: str) -> None:
    providers = md.packages_distributions().get(name, [])
    others = sorted({p for p in providers if p.lower() != "planloop"})
    assert not others, f"installed distribution(s) {others} also provide top-level {name!r}"


@pytest.mark.parametrize("name", PACKAGES)
def test_package_imports_from_this_project(name: str) -> None:
    module = importlib.import_module(name)
    origin = Path(module.__file__ or "").resolve()
    files = md.distribution("planloop").files or []
    installed = {Path(str(f.locate())).resolve() for f in files}
    assert origin.is_relative_to(REPO) or origin in installed, (
        f"{name!r} is imported from {origin}, which is not planloop's: another package shadows it"
    )


def test_console_script_points_at_the_cli() -> None:
    scripts = md.distribution("planloop").entry_points.select(group="console_scripts")
    assert {ep.name: ep.value for ep in scripts}["planloop"] == "graph.cli:main"


def test_langgraph_json_serves_the_compiled_graph_without_checkpointer() -> None:
    config = json.loads((REPO / "langgraph.json").read_text())
    target = config["graphs"]["planloop"]
    path, _, attribute = target.partition(":")
    module_name = Path(path).with_suffix("").as_posix().lstrip("./").replace("/", ".")
    compiled = getattr(importlib.import_module(module_name), attribute)
    assert compiled.checkpointer is None
    assert set(compiled.get_graph().nodes) >= {
        "parse_goal",
        "plan",
        "execute_step",
        "reflect",
        "decide_done",
        "finish",
    }


def test_cli_help_does_not_import_the_heavy_stack() -> None:
    """`planloop --help` stays fast: building the parser imports neither LangGraph nor LangChain."""
    probe = (
        "import sys; from graph.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('langgraph', 'langchain_core', 'langchain_openai', 'openai', 'aiosqlite')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
