"""The graph's state, in three layers: what goes in, what is tracked, what comes out.

Every field a user inspects (criteria, plan, results, budget) is a typed dataclass so that
LangGraph Studio can render it and the checkpointer can restore it under a strict allow-list.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Annotated, Literal

from pydantic import ConfigDict

from nodes.reducers import (
    TypedDeltaChannel,
    add_count_batches,
    concat_batches,
    latest,
    merge_result_batches,
)

Risk = Literal["read_only", "writes_workspace", "executes_code", "network"]
RunStatus = Literal["running", "done", "failed", "budget_exhausted", "stalled"]
Decision = Literal["continue", "replan", "finish"]
Effort = Literal["short", "full"]

ModelCheckKind = Literal[
    "file_exists",
    "file_number",
    "file_json",
    "file_contains",
    "file_matches",
    "json_has_key",
    "file_changed",
]
"""The kinds of check the goal analysis may write."""
CheckKind = Literal[ModelCheckKind, "file_lines", "program_output", "file_kept"]
"""Every kind of check (`file_lines`, `program_output` and `file_kept` only code derives, from
the goal's words)."""

DOCUMENTED = ConfigDict(use_attribute_docstrings=True)
"""Pydantic reads each field's docstring as its description (the schemas Studio shows)."""


@dataclass(kw_only=True)
class Check:
    """A test of a criterion that code runs against the workspace, with no model call; its
    result overrides the model's opinion of the criterion in both directions."""

    __pydantic_config__ = DOCUMENTED

    kind: CheckKind
    """`file_exists` (a non-empty file), `file_number` (it holds exactly one number),
    `file_json` (it is valid JSON; with `text` "object" or "array", one of that shape),
    `file_contains` (`text` is in it), `file_matches`
    (the regular expression `text` is found in it; `^` and `$` anchor the file's trimmed start
    and end, not lines), `json_has_key` (a JSON object with key `text`), `file_changed` (its
    content differs from when the run began), `file_lines` (its non-empty lines have the
    properties `text` lists: `sorted` in alphabetical order, `unique`, `lines=N`),
    `program_output` (the Python script `path`, run in the sandbox, prints `text`) or
    `file_kept` (its lines are the ones `text` lists, a JSON list of the file's lines when the
    goal was analysed with null for each line the goal may change)."""
    path: str
    """The workspace-relative file the check reads."""
    text: str = ""
    """The text, pattern or key the check looks for."""
    baseline: str = ""
    """For `file_changed`: the digest of the file when the goal was analysed."""
    decides: bool = True
    """True when the check is the whole criterion, so its result decides it in both directions;
    False when it tests only a part (the file the criterion is about exists, holds a number):
    a failure still means unmet, a pass leaves the judgement to the model."""


@dataclass(kw_only=True)
class Criterion:
    """One done-criterion of the goal and the evidence that it is met."""

    __pydantic_config__ = DOCUMENTED

    id: str
    """Short identifier, such as `c1`."""
    text: str
    """What must be true for the goal to count as achieved."""
    met: bool = False
    """Whether reflection judged the criterion satisfied."""
    evidence: str = ""
    """Why it is met: which step showed it, and how."""
    check: Check | None = None
    """The test code runs on the criterion; None when only a model can judge it."""
    check_passed: bool = False
    """Whether the check passed when it last ran."""


@dataclass(kw_only=True)
class Step:
    """One node of the plan DAG."""

    __pydantic_config__ = DOCUMENTED

    id: str
    """Unique id within the run, such as `s1`."""
    description: str
    """What the step does, in one sentence."""
    expected: str
    """What success looks like; reflection judges the result against it."""
    tool: str | None = None
    """Tool to call directly; with `args` the step runs without any LLM call."""
    args: dict[str, object] | None = None
    """Arguments for `tool`, validated against the tool's schema before the run."""
    depends_on: list[str] = field(default_factory=list)
    """Ids of steps whose results this step needs."""
    risk: Risk = "read_only"
    """Side-effect class of the step, used by the approval policy."""
    templated_args: dict[str, object] | None = None
    """The planned args when they held placeholders for earlier results (`{{s1}}`): `args` is
    then None, and code fills them in from those results when it can (`nodes.placeholders`),
    else a model call does."""


@dataclass(kw_only=True)
class StepResult:
    """What executing a step produced, and reflection's verdict on it."""

    __pydantic_config__ = DOCUMENTED

    step_id: str
    """The step this result belongs to."""
    status: Literal["done", "error"]
    """`error` when the tool or executor failed outright."""
    output: str
    """Observation text, truncated to the configured limit."""
    verdict: Literal["pending", "pass", "fail"] = "pending"
    """Reflection's judgement against the step's `expected`."""
    note: str = ""
    """Reflection's reason for the verdict."""
    tool_calls: int = 0
    """Tool calls the step made."""
    tool_errors: int = 0
    """Tool calls of the step that ended in an error observation."""
    artifacts: list[str] = field(default_factory=list)
    """Workspace-relative files with full outputs that were clipped in `output`."""


@dataclass(kw_only=True)
class ApprovalDecision:
    """A human's answer to a step approval."""

    __pydantic_config__ = DOCUMENTED

    step_id: str
    """The step the answer is for."""
    action: Literal["approve", "reject", "edit"]
    """What the human decided."""
    args: dict[str, object] | None = None
    """The edited args, when the action is `edit`."""
    feedback: str = ""
    """The human's words, shown to the planner on a reject."""
    why: str = ""
    """Why the policy asked."""


@dataclass(kw_only=True)
class PendingApproval:
    """A step waiting for a human before it runs (shown in Studio while the run is paused)."""

    __pydantic_config__ = DOCUMENTED

    step_id: str
    """The step waiting."""
    summary: str
    """The step as one line: description, tool call and risk."""
    why: str
    """Why the approval policy asks."""


@dataclass(kw_only=True)
class MemoryHit:
    """A long-term memory recalled for planning."""

    __pydantic_config__ = DOCUMENTED

    id: str
    """The memory's id (forget it with `planloop memory forget ID`)."""
    kind: Literal["lesson", "fact", "outcome"]
    """Lesson from reflection, fact with provenance, or a past run's outcome."""
    text: str
    """What was remembered."""
    trusted: bool
    """False when derived from web content: data for the planner, never instructions."""
    source: str = ""
    """Where it came from: a URL, or the thread and step."""
    score: float = 0.0
    """Relevance to this run's objective (higher is closer)."""


@dataclass(kw_only=True)
class PlanDiff:
    """Differences between two plans, by step id."""

    __pydantic_config__ = DOCUMENTED

    added: list[str] = field(default_factory=list)
    """Steps only in the new plan."""
    removed: list[str] = field(default_factory=list)
    """Steps only in the old plan."""
    changed: list[str] = field(default_factory=list)
    """Steps in both whose content differs."""


@dataclass(kw_only=True)
class Budget:
    """Resources used so far. Nodes return deltas; the reducer adds them up."""

    __pydantic_config__ = DOCUMENTED

    llm_calls: int = 0
    """Chat model calls, including repair retries."""
    prompt_tokens: int = 0
    """Prompt tokens reported by the model's usage metadata."""
    completion_tokens: int = 0
    """Completion tokens reported by the model's usage metadata."""
    cost_usd: float = 0.0
    """Estimated cost from the model's price per million tokens."""
    tool_calls: int = 0
    """Tool invocations, failed ones included."""
    tool_errors: int = 0
    """Tool invocations that ended in an error observation."""
    steps: int = 0
    """Plan steps executed."""
    replans: int = 0
    """Times the plan was rebuilt after the first plan."""
    seconds: float = 0.0
    """Time spent inside nodes (survives pauses and resumes)."""

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Budget) -> Budget:
        return Budget(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Budget)}
        )


@dataclass(kw_only=True)
class StepTask:
    """The payload sent to `execute_step` for one ready step (one `Send` each)."""

    __pydantic_config__ = DOCUMENTED

    step: Step
    """The step to execute."""
    objective: str
    """The run's objective, for the executor's prompt."""
    inputs: list[StepResult] = field(default_factory=list)
    """Results of the steps this one depends on."""
    budget: Budget = field(default_factory=Budget)
    """Budget used when the step was dispatched, so the executor can stop in time."""
    approval_reason: str = ""
    """Why a human must approve the step first; empty when it may just run."""
    remaining_steps: int = 0
    """Steps of the plan not yet run, for the projected cost shown at approval."""
    files_written: list[str] = field(default_factory=list)
    """Files the run wrote so far (the executor may change those without approval)."""
    checks: list[Criterion] = field(default_factory=list)
    """The run's criteria when code checks every one of them and the step is an executor's:
    the executor stops as soon as they all pass (no turn spent on saying it is done)."""


def add_budget(current: Budget | None, delta: Budget | None) -> Budget:
    """Reducer: sum budget deltas written by nodes (parallel branches included)."""
    return (current or Budget()) + (delta or Budget())


@dataclass(kw_only=True)
class InputState:
    """What a caller provides."""

    __pydantic_config__ = DOCUMENTED

    goal: str
    """The goal in plain words."""


@dataclass(kw_only=True)
class OutputState:
    """What a finished (or stopped) run returns."""

    __pydantic_config__ = DOCUMENTED

    status: RunStatus = "running"
    """`done`, `failed`, `budget_exhausted` or `stalled` once the run has ended."""
    stop_reason: str = ""
    """Why the run ended, in one line."""
    answer: str = ""
    """Final answer, or the partial result when the run stopped early."""
    criteria: list[Criterion] = field(default_factory=list)
    """Done-criteria with their evidence."""
    results: Annotated[dict[str, StepResult], TypedDeltaChannel(merge_result_batches)] = field(
        default_factory=dict
    )
    """Every executed step's result, keyed by step id.

    A delta channel: checkpoints store each step's new result once, not the whole growing map,
    so storage grows linearly with the number of steps."""
    budget: Annotated[Budget, add_budget] = field(default_factory=Budget)
    """Resources used by the run."""
    report_path: str = ""
    """Workspace-relative path of the Markdown run report."""


@dataclass(kw_only=True)
class State(InputState, OutputState):
    """Everything the graph tracks between nodes."""

    __pydantic_config__ = DOCUMENTED

    objective: str = ""
    """The goal restated as one concrete objective."""
    constraints: list[str] = field(default_factory=list)
    """Constraints stated or implied by the goal."""
    effort: Effort = "full"
    """short: the goal runs as one executor step; full: planned steps, reviewed and replanned."""
    criteria_notes: list[str] = field(default_factory=list)
    """What the goal analysis changed in the model's criteria (dropped ones, and why)."""
    plan: Annotated[list[Step], TypedDeltaChannel(latest)] = field(default_factory=list)
    """The current plan DAG (completed steps stay in it)."""
    drafted_plan: list[dict[str, object]] = field(default_factory=list)
    """The first plan as the goal analysis wrote it (steps as the planner's schema has them),
    when it planned in the same call; the plan node validates it once, like a planner's."""
    plan_errors: list[str] = field(default_factory=list)
    """Why the last proposed plan was rejected; fed back to the planner."""
    plan_attempts: int = 0
    """Consecutive rejected plan proposals."""
    decision: Decision = "continue"
    """decide_done's verdict, read by the router after it."""
    replan_reason: str = ""
    """Why the last replan was asked for."""
    second_program: str = ""
    """A cross-check's second program (`nodes.cross_check`) that wrote an output otherwise than
    the whole-goal program the review judged short: the replan runs it as the next program, as
    it is (no model call), and clears this."""
    answer_step: str = ""
    """The step whose output reflection found to be the final answer; finish then reuses it."""
    review_answer: str = ""
    """The final answer the newest model review wrote from the results when it found every
    criterion met; finish then reuses it."""
    stalled_replans: int = 0
    """Replans in a row that made no progress."""
    progress_at_replan: int = 0
    """Passed steps plus met criteria at the last replan, to measure progress between replans."""
    action_counts: Annotated[dict[str, int], TypedDeltaChannel(add_count_batches)] = field(
        default_factory=dict
    )
    """How often each identical tool action ran."""
    next_steps: list[str] = field(default_factory=list)
    """Ids of the ready steps decide_done dispatches next (at most the parallel cap)."""
    fill_first: list[str] = field(default_factory=list)
    """Ids of the dispatched steps whose args one model call (fill_args) fills in together
    before they run; empty when each step fills its own."""
    pending_approvals: list[PendingApproval] = field(default_factory=list)
    """Dispatched steps that wait for a human before running."""
    approvals: Annotated[list[ApprovalDecision], TypedDeltaChannel(concat_batches)] = field(
        default_factory=list
    )
    """Every approval answer given in this run."""
    filled_args: Annotated[
        dict[str, dict[str, object]], TypedDeltaChannel(merge_result_batches)
    ] = field(default_factory=dict)
    """Args filled in from earlier results for steps that wait for approval, by step id: the
    human approves exactly this call, and a resumed run does not fill them again."""
    files_written: Annotated[list[str], TypedDeltaChannel(concat_batches)] = field(
        default_factory=list
    )
    """Workspace files this run has written (changing them again needs no approval)."""
    web_content_seen: Annotated[bool, operator.or_] = False
    """True once a web tool returned content: later writes and code runs need approval."""
    memory_hits: list[MemoryHit] = field(default_factory=list)
    """Long-term memories recalled for planning."""
    plan_diff: PlanDiff | None = None
    """How the newest plan differs from the one before it (for plan approval)."""


STATE_TYPES: tuple[type, ...] = (
    Check,
    ApprovalDecision,
    PendingApproval,
    PlanDiff,
    MemoryHit,
    Criterion,
    Step,
    StepResult,
    Budget,
    StepTask,
    InputState,
    OutputState,
    State,
)
"""Types the checkpoint serializer may rebuild (the strict msgpack allow-list)."""
