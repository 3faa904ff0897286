"""Per-run settings, passed to the graph with `context_schema`.

Defaults come from the environment where the spec says so (`PLANLOOP_MODEL`, `OPENAI_BASE_URL`);
an explicitly passed value always wins over the environment.
"""

from __future__ import annotations

import os
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Literal

from nodes.errors import UsageError

ApprovalPolicy = Literal["risky", "all", "none"]
ReflectionPolicy = Literal["deferred", "every_wave"]
EffortPolicy = Literal["auto", "short", "full"]
StructuredOutput = Literal["auto", "json_schema", "prompt"]

DEFAULT_MODEL = "gpt-4o-mini"

# USD per million tokens (prompt, completion); unknown models cost 0 unless priced explicitly.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


def _env_default(name: str, fallback: str | None = None) -> str | None:
    return os.environ.get(name) or fallback


@dataclass(frozen=True)
class Flag:
    """How a setting appears on the `planloop` command line (`graph.cli` builds the flags from
    these, with help from the field's description and choices from its Literal type)."""

    name: str
    """The option, e.g. `--max-steps`."""
    on_resume: bool = False
    """Also on `planloop resume`, where it overrides the thread's stored setting for good."""
    negates: bool = False
    """For a setting that is on by default: the flag turns it off (`--no-memory`)."""
    metavar: str | None = None


def _describe(text: str, flag: Flag | None = None) -> dict[str, object]:
    return {"description": text, **({"flag": flag} if flag else {})}


@dataclass(kw_only=True)
class Context:
    """Settings for one run; LangGraph Studio shows them as the assistant's configuration."""

    model: str = field(
        default_factory=lambda: _env_default("PLANLOOP_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL,
        metadata=_describe(
            "Chat model name (default: $PLANLOOP_MODEL or gpt-4o-mini).",
            Flag("--model", on_resume=True),
        ),
    )
    base_url: str | None = field(
        default_factory=lambda: _env_default("OPENAI_BASE_URL"),
        metadata=_describe(
            "OpenAI-compatible server URL (default: $OPENAI_BASE_URL).",
            Flag("--base-url", on_resume=True),
        ),
    )
    workspace: str = field(
        default=".",
        metadata=_describe(
            "Directory the agent may read and write; nothing outside it.", Flag("--workspace")
        ),
    )
    approval: ApprovalPolicy = field(
        default="risky",
        metadata=_describe(
            "Which actions wait for human approval: risky, all or none.", Flag("--approve")
        ),
    )
    plan_approval: bool = field(
        default=False,
        metadata=_describe(
            "Ask a human to approve each plan (and each replan's diff).", Flag("--plan-approval")
        ),
    )
    max_parallel_steps: int = field(
        default=4,
        metadata=_describe(
            "Most ready steps that run at the same time.", Flag("--parallel", metavar="N")
        ),
    )
    reflection: ReflectionPolicy = field(
        default="deferred",
        metadata=_describe(
            "When results are judged: deferred (one review once nothing else can run, at once "
            "when a step fails) or every_wave (after each batch of parallel steps).",
            Flag("--reflection"),
        ),
    )
    effort: EffortPolicy = field(
        default="auto",
        metadata=_describe(
            "How much process a goal gets: short (one executor step, criteria checked by code), "
            "full (plan, review, replan) or auto (the goal analysis chooses).",
            Flag("--effort"),
        ),
    )
    programs: bool = field(
        default=True,
        metadata=_describe(
            "Let the model write a step's Python program as code (CodeAct): the short path's "
            "step is one program when the goal needs only the workspace (off: --no-programs).",
            Flag("--no-programs", negates=True),
        ),
    )
    cross_check: bool = field(
        default=True,
        metadata=_describe(
            "Under --approve none, when a program step did the whole goal and a model must judge "
            "its outputs, let a second program do the goal again on a copy of the workspace: when "
            "it wrote an output otherwise, a retry runs it; a review that judges unmet only "
            "outputs both wrote alike ends the run (nodes.cross_check; off: --no-cross-check).",
            Flag("--no-cross-check", negates=True),
        ),
    )
    cross_check_settles: bool = field(
        default=False,
        metadata=_describe(
            "Let an output two programs wrote alike settle the criteria about it without a "
            "review. Off by default: measured with a 1.5B model, two programs written apart fell "
            "into the same trap of the input on 2 of the 10 outputs they agreed on.",
            Flag("--cross-check-settles"),
        ),
    )
    checker_programs: bool = field(
        default=False,
        metadata=_describe(
            "Under --approve none, on a goal a program step does, let the model write a "
            "program that checks the criteria only a model could judge, run on copies of the "
            "workspace (nodes.checker). Off by default: a 1.5B model's checkers decided nothing.",
            Flag("--checker-programs"),
        ),
    )
    memory: bool = field(
        default=True,
        metadata=_describe(
            "Recall and store long-term memories (off: --no-memory).",
            Flag("--no-memory", negates=True),
        ),
    )
    memory_user: str = field(
        default_factory=lambda: _env_default("USER", "default") or "default",
        metadata=_describe("User part of the memory namespace (default: $USER)."),
    )
    project: str = field(
        default="",
        metadata=_describe("Project part of the memory namespace (default: workspace name)."),
    )
    memory_recall: int = field(default=5, metadata=_describe("Memories recalled per plan."))
    memory_max_items: int = field(
        default=200, metadata=_describe("Most memories kept per namespace (oldest go first).")
    )
    embedding_model: str | None = field(
        default_factory=lambda: _env_default("PLANLOOP_EMBEDDING_MODEL"),
        metadata=_describe("Embeddings model for semantic recall (unset: lexical BM25 recall)."),
    )
    embedding_dims: int = field(
        default=1536, metadata=_describe("Dimensions of the embedding model's vectors.")
    )
    temperature: float = field(default=0.0, metadata=_describe("Sampling temperature."))
    retry_temperature: float = field(
        default=0.7,
        metadata=_describe(
            "Sampling temperature when a program step asks again after the model wrote a "
            "program it had written before (at temperature 0 a 1.5B model wrote it a third "
            "time, whatever it was told); the run's temperature when that is higher."
        ),
    )
    request_timeout: float = field(
        default=120.0, metadata=_describe("Seconds to wait for one model response.")
    )
    max_steps: int = field(
        default=20,
        metadata=_describe("Most plan steps to execute.", Flag("--max-steps", on_resume=True)),
    )
    max_replans: int = field(
        default=3,
        metadata=_describe(
            "Most times to rebuild the plan.", Flag("--max-replans", on_resume=True)
        ),
    )
    max_tokens: int = field(
        default=200_000,
        metadata=_describe(
            "Most prompt + completion tokens in the run.", Flag("--max-tokens", on_resume=True)
        ),
    )
    max_cost_usd: float = field(
        default=1.0,
        metadata=_describe("Most estimated cost in USD.", Flag("--max-cost", on_resume=True)),
    )
    max_llm_calls: int = field(default=100, metadata=_describe("Most chat model calls."))
    max_tool_calls: int = field(default=60, metadata=_describe("Most tool invocations."))
    max_seconds: float = field(
        default=1800.0,
        metadata=_describe(
            "Most seconds spent working (pauses excluded); a model call still generating then is "
            "stopped.",
            Flag("--max-seconds", on_resume=True),
        ),
    )
    max_plan_steps: int = field(default=12, metadata=_describe("Largest plan accepted."))
    max_plan_attempts: int = field(
        default=3, metadata=_describe("Rejected plans in a row before the run fails.")
    )
    max_executor_turns: int = field(
        default=6, metadata=_describe("Model turns for a step that has no planned tool call.")
    )
    max_repeats: int = field(
        default=3, metadata=_describe("Times one identical action may run before it is a loop.")
    )
    max_stalled_replans: int = field(
        default=2, metadata=_describe("Replans in a row without progress before stopping.")
    )
    structured_retries: int = field(
        default=2, metadata=_describe("Repair attempts for malformed structured model output.")
    )
    structured_output: StructuredOutput = field(
        default="auto",
        metadata=_describe(
            "How structured answers are asked for: json_schema (the server enforces the schema "
            "through response_format), prompt (the schema in the prompt only), or auto (try "
            "json_schema once per server and model, fall back to prompt if it is not honoured).",
            Flag("--structured-output", on_resume=True),
        ),
    )
    max_completion_tokens: int | None = field(
        default=None,
        metadata=_describe(
            "Most tokens one model reply may have, for every kind of call (default: per kind: "
            "600 for the goal, 2100 for the goal with its first plan, 1500 for a plan, 800 to "
            "fill in a tool call, 1200 for an executor turn, 1300 for a review (with the final "
            "answer), 600 for the final answer; none for OpenAI's reasoning "
            "models, whose reasoning counts against it).",
            Flag("--max-completion-tokens", on_resume=True),
        ),
    )
    history_budget_tokens: int = field(
        default=2500,
        metadata=_describe("Tokens of past results a prompt may carry; older ones are summarised."),
    )
    max_observation_chars: int = field(
        default=4000, metadata=_describe("Longest tool output kept in state, in characters.")
    )
    tool_retries: int = field(
        default=2, metadata=_describe("Retries of a tool call that failed transiently.")
    )
    tool_retry_backoff_seconds: float = field(
        default=0.5, metadata=_describe("First retry delay; it doubles on each retry.")
    )
    search_max_results: int = field(default=5, metadata=_describe("Results per web search."))
    web_timeout_seconds: float = field(
        default=20.0, metadata=_describe("Seconds to wait for a search or page fetch.")
    )
    fetch_max_bytes: int = field(
        default=5_000_000, metadata=_describe("Largest page fetch_url downloads, in bytes.")
    )
    allow_private_urls: bool = field(
        default=False,
        metadata=_describe("Let fetch_url reach loopback and private addresses (off: SSRF guard)."),
    )
    python: str | None = field(
        default=None,
        metadata=_describe(
            "Python interpreter run_python uses (a venv with your libraries; default: planloop's).",
            Flag("--python", on_resume=True, metavar="PATH"),
        ),
    )
    mcp_config: str | None = field(
        default_factory=lambda: _env_default("PLANLOOP_MCP"),
        metadata=_describe(
            "JSON file naming MCP servers whose tools the run may use (default: $PLANLOOP_MCP).",
            Flag("--mcp", on_resume=True, metavar="FILE"),
        ),
    )
    tool_prompt_budget_tokens: int = field(
        default=1500,
        metadata=_describe(
            "Tokens the planner's list of extra (MCP) tools may take in detail; the rest by name."
        ),
    )
    python_timeout_seconds: float = field(
        default=30.0, metadata=_describe("Wall-clock limit of one run_python call.")
    )
    python_memory_mb: int = field(
        default=1024, metadata=_describe("Address-space limit of run_python, in MiB.")
    )
    python_max_processes: int = field(
        default=32, metadata=_describe("Most processes run_python code may have at once.")
    )
    python_max_file_mb: int = field(
        default=100, metadata=_describe("Largest file run_python code may write, in MiB.")
    )
    prompt_price_per_mtok: float | None = field(
        default=None, metadata=_describe("USD per million prompt tokens (default: known price).")
    )
    completion_price_per_mtok: float | None = field(
        default=None,
        metadata=_describe("USD per million completion tokens (default: known price)."),
    )

    def __post_init__(self) -> None:
        problems = [
            f"{f.name} must be positive"
            for f in fields(self)
            if f.name.startswith("max_")
            and isinstance(getattr(self, f.name), int | float)
            and getattr(self, f.name) <= 0
        ]
        if self.approval not in ("risky", "all", "none"):
            problems.append(f"approval must be risky, all or none, not {self.approval!r}")
        if self.structured_output not in ("auto", "json_schema", "prompt"):
            problems.append(
                "structured_output must be auto, json_schema or prompt, "
                f"not {self.structured_output!r}"
            )
        if problems:
            raise UsageError("; ".join(problems))

    def memory_namespace(self) -> tuple[str, str, str]:
        """Where this run's memories live: planloop / user / project."""
        project = self.project or os.path.basename(os.path.abspath(self.workspace)) or "default"
        return ("planloop", self.memory_user, project)

    def prices(self) -> tuple[float, float]:
        """Prompt and completion price per million tokens for the configured model."""
        known = MODEL_PRICES.get(self.model, (0.0, 0.0))
        prompt = known[0] if self.prompt_price_per_mtok is None else self.prompt_price_per_mtok
        completion = (
            known[1] if self.completion_price_per_mtok is None else self.completion_price_per_mtok
        )
        return prompt, completion

    def to_settings(self) -> dict[str, object]:
        """Plain settings to persist with a thread, so `resume` runs with the same ones."""
        return asdict(self)

    @classmethod
    def from_settings(cls, settings: dict[str, object], **overrides: object) -> Context:
        """Rebuild a context from persisted settings, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in {**settings, **overrides}.items() if k in known}
        return cls(**values)  # type: ignore[arg-type]


def command_line_settings() -> list[tuple[Field[object], Flag]]:
    """The settings that have a command-line flag, in declaration order."""
    return [(f, f.metadata["flag"]) for f in fields(Context) if "flag" in f.metadata]
