"""Short-term memory: prompt size per model call stays flat as a run grows to 40 steps."""

from __future__ import annotations

from pathlib import Path

from graph.api import arun
from nodes.context import Context
from nodes.history import estimate_tokens
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step

STEPS = 40


def _prompt_tokens(messages: list[object]) -> int:
    return estimate_tokens("".join(getattr(m, "text", "") for m in messages))


async def test_prompt_size_is_flat_over_a_40_step_run(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    for n in range(1, STEPS + 1):
        (workspace / f"doc{n}.txt").write_text(f"document {n} " + "lorem ipsum " * 400)
    script.add("parse_goal", goal_reply("every document was read"))
    script.add(
        "plan",
        plan_reply(
            *(
                step(
                    f"s{n}",
                    tool="read_file",
                    args={"path": f"doc{n}.txt"},
                    depends_on=[f"s{n - 1}"] if n > 1 else [],
                )
                for n in range(1, STEPS + 1)
            )
        ),
    )
    for n in range(1, STEPS):
        script.add("reflect", reflect_reply({f"s{n}": True}))
    script.add("reflect", reflect_reply({f"s{STEPS}": True}, {"c1": "s1-s40 read them all"}))
    script.add("finish", "all read")
    context.max_steps = context.max_plan_steps = STEPS
    context.max_llm_calls, context.max_tool_calls = 100, 100
    context.max_tokens = 1_000_000
    context.history_budget_tokens = 2000
    context.reflection = "every_wave"  # one review per step: the prompt at every step

    outcome = await arun("read every document", context=context, db=db_path)

    assert outcome.status == "done" and outcome.budget.steps == STEPS
    sizes = [_prompt_tokens(messages) for messages in script.calls_for("reflect")]
    at = {n: sizes[n - 1] for n in (5, 20, 40)}
    print(f"reflect prompt tokens at steps 5/20/40: {at[5]}/{at[20]}/{at[40]}")
    # Without budgeting each earlier result adds ~110 tokens (~4,300 more by step 40). With it,
    # growth stops once the history budget is full: a ceiling, then a plateau.
    assert max(sizes) <= at[5] + context.history_budget_tokens
    assert max(sizes[34:]) - min(sizes[34:]) <= 0.02 * at[40]
    last_prompt = script.calls_for("reflect")[-1][1].text
    assert "earlier steps summarised" in last_prompt  # the oldest are folded, not dropped
    assert "s39" in last_prompt and "s1," in last_prompt
    finish_prompt = _prompt_tokens(script.calls_for("finish")[0])
    assert finish_prompt <= context.history_budget_tokens + 1500
