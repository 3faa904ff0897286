"""planloop's stages: one module per node of the graph, the helpers they share, and the
vocabulary every package may use.

Nodes (each an async function `(state, runtime) -> update`, wired in `graph.builder`):

- `parse_goal`: `nodes.parse_goal` (goal -> objective, done-criteria, constraints, effort;
  the typed checks code runs on criteria: `nodes.checks`, grounded in the goal's words:
  `nodes.check_grounding`; the files a goal names, its outputs
  and the inputs an executor is shown: `nodes.goal_files`, with how a table input reads:
  `nodes.input_format`)
- `plan`: `nodes.plan` (the short path's steps, `nodes.short_path`, or a planned DAG; repair:
  `nodes.plan_repair`, with the placeholders it finds in args: `nodes.placeholders`;
  validation: `nodes.plan_check`; the tool listing: `nodes.tool_list`)
- `approve_plan`: `nodes.approve_plan` (the optional plan approval interrupt)
- `execute_step`: `nodes.execute` (planned calls, filled calls and the executor loop:
  `nodes.step_runs`; program steps, whose code the model writes as code: `nodes.program`,
  run by `nodes.program_runs`; a step's tool calls and which the model may make:
  `nodes.step_calls`; the step approval interrupt: `nodes.approval`)
- `reflect`: `nodes.reflect` (runs the criteria's code checks; a second program written apart,
  `nodes.cross_check`, whose outputs `nodes.same_output` compares; a checker program the model
  writes, `nodes.checker`, and then a model judge the rest)
- `decide_done`: `nodes.decide` (no model call: continue, replan or finish)
- `finish`: `nodes.finish` (the report: `nodes.report`; memories written back: `nodes.memory`)

Shared vocabulary (importable from graph/, tools/ and checkpoints/ too): `nodes.state` (the
state dataclasses; checkpoints store them by module path, so nothing there moves),
`nodes.context` (the run's settings), `nodes.errors` (the error hierarchy).

The model seam: `nodes.llm` (every chat model call, each with its `Stage` and completion cap),
with `nodes.model_factory` (which model: tests swap it in one place; the config check; the
memory store's embeddings), `nodes.streaming` (streamed replies, progress events),
`nodes.structured` (json_schema mode, reading structured answers), `nodes.model_errors`
(one-line errors, what may be resent) and `nodes.openai_compat` (the request body
OpenAI-compatible servers read); `nodes.recording` records real-model runs on a `nodes.tape`,
`nodes.replay` replays them. Prompts are templates in `nodes.prompts`; structured replies are
the pydantic models of `nodes.schemas`, parsed by `nodes.jsonout`.
Other helpers: `nodes.budget` (limits and costs), `nodes.history` (results within a token
budget), `nodes.render` (how state reads in prompts), `nodes.reducers` (state channels).
"""
