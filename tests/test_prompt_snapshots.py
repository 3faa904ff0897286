"""One rendered prompt per model-calling node, pinned as a snapshot, so a prompt edit shows up as
a diff in review (and its cost in tokens can be judged there).

After an intended prompt change,
`PLANLOOP_UPDATE_SNAPSHOTS=1 pytest tests/test_prompt_snapshots.py` rewrites the files under
tests/snapshots/prompts/; commit them with the change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from graph.api import arun
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "prompts"
ROLES = ("parse_goal", "plan", "execute", "reflect", "finish")


def _rendered(messages: list[BaseMessage], workspace: Path) -> str:
    """The prompt as the model reads it, with what differs between machines replaced."""
    text = "\n\n".join(f"--- {m.type} ---\n{m.text}" for m in messages)
    text = text.replace(str(workspace), "<workspace>")
    # run_python's interpreter (its version, its data libraries) depends on the installation.
    text = re.sub(r"Python \d+\.\d+\.\d+", "Python <version>", text)
    return re.sub(r"(importable[^\n]*?:)[^\n]*", r"\1 <libraries>", text)


@pytest.fixture
async def prompts(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> dict[str, str]:
    """Run one small goal through every model-calling node; each node's first prompt."""
    context.memory = False
    script.add("parse_goal", goal_reply("hello.txt says hello", "a summary of it is given"))
    script.add(
        "plan",
        plan_reply(
            step("s1", tool="write_file", args={"path": "hello.txt", "content": "hello"}),
            step("s2", description="summarise what hello.txt says", depends_on=["s1"]),
        ),
    )
    script.add("execute", "hello.txt says hello.")
    script.add(
        "reflect", reflect_reply({"s1": True, "s2": True}, {"c1": "s1 wrote hello", "c2": "s2"})
    )
    script.add("finish", "hello.txt says hello.")
    outcome = await arun("write hello to hello.txt and summarise it", context=context, db=db_path)
    assert outcome.status == "done"
    return {role: _rendered(script.calls_for(role)[0], workspace) for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_the_prompt_matches_its_snapshot(role: str, prompts: dict[str, str]) -> None:
    snapshot = SNAPSHOTS / f"{role}.txt"
    if os.environ.get("PLANLOOP_UPDATE_SNAPSHOTS"):
        snapshot.write_text(prompts[role], encoding="utf-8")
    assert prompts[role] == snapshot.read_text(encoding="utf-8")


async def test_the_program_cross_check_and_checker_prompts_match_their_snapshots(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.memory, context.approval, context.programs = False, "none", True
    context.checker_programs = context.cross_check = True
    (workspace / "a.txt").write_text("one\ntwo\n")
    script.add("parse_goal", goal_reply("n.txt holds the line count of a.txt"))
    script.add("execute", "```python\nopen('n.txt', 'w').write('2')\n```")
    script.add("cross_check", "```python\nopen('n.txt', 'w').write('2\\n')\n```")
    script.add(
        "check", "```python\nprint('c1: PASS' if open('n.txt').read() == '2' else 'c1: FAIL')\n```"
    )
    script.add("finish", "n.txt holds 2")
    await arun("Count the lines of a.txt and write the count to n.txt", context=context, db=db_path)
    for role, name in (
        ("execute", "program"),
        ("cross_check", "cross_check"),
        ("check", "checker"),
    ):
        prompt = _rendered(script.calls_for(role)[0], workspace)
        snapshot = SNAPSHOTS / f"{name}.txt"
        if os.environ.get("PLANLOOP_UPDATE_SNAPSHOTS"):
            snapshot.write_text(prompt, encoding="utf-8")
        assert prompt == snapshot.read_text(encoding="utf-8")
