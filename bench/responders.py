"""What the simulated model answers to each system: the replies a capable model would give.

Every system is scripted to do the same work on a `Task`: one lookup per key (a key that depends
on other lookups is only known from their results) and one synthesis, `sim.summary`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from bench.sim import GOAL, Responder, Task, fact, summary

CRITERION = "the summary gives the value of every record"


def _text(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)


def _call(key: str, n: int) -> dict[str, object]:
    return {"name": "lookup", "args": {"key": key}, "id": f"call_{key}_{n}"}


# planloop -----------------------------------------------------------------------------------


def _plan(task: Task) -> list[dict[str, object]]:
    """Independent lookups are planned calls (args known: no description needed); a dependent
    lookup names its tool and leaves the args to be filled in from its inputs. No synthesis
    step: the prompt says the reviewer writes the final answer from the results."""
    steps: list[dict[str, object]] = []
    for key, deps in task.deps.items():
        if deps:
            where = ", ".join(deps)
            steps.append({"id": key, "description": f"Look up the key named in {where}",
                          "tool": "lookup", "depends_on": deps})  # fmt: skip
        else:
            steps.append({"id": key, "tool": "lookup", "args": {"key": key}})
    return steps


def _review(task: Task, messages: Sequence[BaseMessage]) -> dict[str, object]:
    """Every new result passes; once every record is among the results, the criterion is met
    and the answer is the summary written from them."""
    text = _text(messages)
    new = text.split("New results to judge:")[1].split("Earlier results:")[0]
    ids = sorted(set(re.findall(r"<result step='(\w+)'", new)))
    done = set(task.deps) <= set(re.findall(r"<result step='(\w+)'", text)) | set(
        re.findall(r"^- (\w+) \[pass\]", text, re.MULTILINE)
    )
    if not done:
        return {"passed": ids}
    evidence = f"results {', '.join(task.deps)} give every value"
    return {"passed": ids, "criteria": [{"id": "c1", "met": True, "evidence": evidence}],
            "answer": summary(list(task.deps))}  # fmt: skip


def planloop_responder(task: Task) -> Responder:
    """Replies per planloop role, recognised from the system prompt."""
    keys = list(task.deps)
    goal = {"objective": GOAL, "criteria": [CRITERION]}

    def reply(messages: Sequence[BaseMessage]) -> tuple[AIMessage, str]:
        system = str(messages[0].content)
        if "goal analyst" in system and "also write `steps`" in system:
            return AIMessage(json.dumps({**goal, "effort": "full", "steps": _plan(task)})), ""
        if "goal analyst" in system:
            return AIMessage(json.dumps(goal)), ""
        if "planner" in system:
            return AIMessage(json.dumps({"steps": _plan(task)})), ""
        if "step executor" in system:  # filling in dependent lookups' keys: one call per step
            text = str(messages[1].content)
            steps = re.findall(r"^Step (\w+):", text, re.MULTILINE)
            named = dict(re.findall(r"^Step (\w+):.*\(tool (\w+)\)$", text, re.MULTILINE))
            calls = [{**_call(step, 0), "name": named.get(step, "lookup")} for step in steps]
            return AIMessage("", tool_calls=calls), steps[0] if len(steps) == 1 else ""
        if "reviewer" in system:
            return AIMessage(json.dumps(_review(task, messages))), ""
        return AIMessage(summary(keys)), ""  # the reporter's final answer

    return reply


# ReAct (langchain.agents.create_agent) --------------------------------------------------------


def _observed(messages: Sequence[BaseMessage]) -> set[str]:
    return set(re.findall(r"^Record (\w+):", _text_of_tools(messages), re.MULTILINE))


def _text_of_tools(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages if isinstance(m, ToolMessage))


def react_responder(task: Task, *, parallel: bool) -> Responder:
    """Classic ReAct emits one action per turn; `parallel` emits every ready lookup at once."""
    keys = list(task.deps)

    def reply(messages: Sequence[BaseMessage]) -> tuple[AIMessage, str]:
        seen = _observed(messages)
        ready = [k for k in keys if k not in seen and all(d in seen for d in task.deps[k])]
        if not ready:
            return AIMessage(summary(keys)), "synth"
        chosen = ready if parallel else ready[:1]
        calls = [_call(k, len(seen)) for k in chosen]
        return AIMessage("", tool_calls=calls), ""

    return reply


# sequential plan-and-execute (langchain_experimental) ---------------------------------------


def plan_execute_responder(task: Task) -> Responder:
    """The planner lists the lookups and a final synthesis; the executor does one at a time."""
    lines = [
        f"Look up {k}" + (f" (its key is named in {', '.join(d)})" if d else "")
        for k, d in task.deps.items()
    ]
    lines.append("Given the above steps taken, combine the records into one summary")
    plan = "Plan:\n" + "\n".join(f"{n}. {line}." for n, line in enumerate(lines, 1))
    keys = list(task.deps)

    def reply(messages: Sequence[BaseMessage]) -> tuple[AIMessage, str]:
        text = _text(messages)
        if "devise a plan" in text:
            return AIMessage(plan + "\n<END_OF_PLAN>"), ""
        objective = text.rsplit("Current objective:", 1)[-1]
        key = re.search(r"Look up (k\d+)", objective)
        if key is None:
            action: dict[str, object] = {"action": "Final Answer", "action_input": summary(keys)}
            tag = "synth"
        elif "Observation:" in objective:
            tag = key.group(1)
            action = {"action": "Final Answer", "action_input": f"{tag} = {fact(tag)}"}
        else:
            tag = key.group(1)
            action = {"action": "lookup", "action_input": {"key": tag}}
        return AIMessage(f"Action:\n```\n{json.dumps(action)}\n```"), tag

    return reply
