"""Shared fixtures: no real model calls, no inherited secrets, a scripted model on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from nodes.context import Context
from nodes.llm import use_model_factory
from nodes.structured import forget_json_schema_support
from tests.fakes import Script, ScriptedChatModel

SCRUBBED_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "PLANLOOP_MODEL",
    "PLANLOOP_HOME",
    "PLANLOOP_DB",
    "PLANLOOP_EMBEDDING_MODEL",
    "TAVILY_API_KEY",
    "TAVILY_API_BASE_URL",
)


@pytest.fixture(autouse=True)
def _no_real_models(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real model call fails loudly, unless the test talks to a local stand-in server."""
    for name in SCRUBBED_ENV:
        monkeypatch.delenv(name, raising=False)
    if request.node.get_closest_marker("real_http_model"):
        return

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a test tried to call a real chat model")

    monkeypatch.setattr(ChatOpenAI, "_generate", refuse)
    monkeypatch.setattr(ChatOpenAI, "_agenerate", refuse)
    monkeypatch.setattr(ChatOpenAI, "_stream", refuse)
    monkeypatch.setattr(ChatOpenAI, "_astream", refuse)


@pytest.fixture(autouse=True)
def _fresh_json_schema_detection() -> Iterator[None]:
    """Each test starts with nothing learned about any server's json_schema support."""
    forget_json_schema_support()
    yield
    forget_json_schema_support()


@pytest.fixture
def script() -> Iterator[Script]:
    """A script whose replies every model call in the test consumes."""
    scripted = Script()
    with use_model_factory(lambda _context: ScriptedChatModel(script=scripted)):
        yield scripted


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment for `planloop` subprocesses: no secrets, a private PLANLOOP_HOME."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TAVILY_"))}
    clean["PLANLOOP_HOME"] = str(tmp_path / "home")
    return clean


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace directory."""
    path = tmp_path / "ws"
    path.mkdir()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh SQLite database file for checkpoints."""
    return tmp_path / "home" / "planloop.db"


@pytest.fixture
def context(workspace: Path) -> Context:
    """Run settings pointing at the test workspace. Program steps are off: most tests script
    plans and tool calls; tests/test_programs.py turns them on."""
    return Context(workspace=str(workspace), model="scripted", programs=False, cross_check=False)
