"""The printed tables and the targets of SPEC section 7."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.sim import TASKS, Latency, Task, fastest_possible, least_possible
from bench.systems import Result

BASELINES = ("plan-and-execute", "react")
"""The weaker baselines: one call at a time."""
STRONGEST = "react-parallel"
"""The strongest baseline: a ReAct agent whose model emits every ready lookup in one turn."""
WALL_VS_STRONGEST = {"wide": 0.9, "deep": 1.0, "mixed": 0.9}
"""planloop's wall-clock at most this times react-parallel's (SPEC section 7)."""

SETUP = """\
tasks: wide = 8 independent lookups, then a synthesis; deep = 6 lookups in a chain; mixed = a DAG
  of 7 lookups (k2 after k1, k4 after k3, k7 after k2 and k5), then a synthesis. A dependency is a
  data dependency: the next key is only known from the earlier result.
every system: the same simulated model, the same tools (planloop's own + `lookup`), the same
  replies a capable model would give; tokens = characters / 4: a prompt is every message, tool
  call and bound tool schema, a completion the reply's text and each call's name and arguments;
  text replies stream 4 tokens a piece (tool calls arrive whole).
planloop = default settings (deferred reflection) with --parallel 8, --approve none, --no-memory.
react = create_agent, one tool call per model turn (classic ReAct); react-parallel = the same
  agent with a model that emits every ready lookup in one turn (parallel tool calls): the
  strongest baseline."""

CRITICAL_PATH = """\
critical path (crit) = the run's own simulated waits that cannot overlap, with zero framework
  overhead: planloop and react-parallel: their model calls outside the steps (parse, plan,
  reflect, finish; ReAct turns) + per wave of ready lookups the slowest step (its model and tool
  calls), where a planloop lookup its streamed plan lists with args starts once its step is
  written (early calls); plan-and-execute and react, which make one call at a time: every model
  and tool call.
  Each model call costs per_call + per_output_token x its completion tokens."""


@dataclass
class Extras:
    """Measurements that are not per system and task."""

    planloop_step: float
    bare_step: float
    step_ratio: float
    """Median of planloop / bare over interleaved pairs of runs (robust to machine load)."""
    checkpoint_small: int
    checkpoint_large: int
    startup: float


def results_table(results: Sequence[Result]) -> list[str]:
    """One row per system and task."""
    lines = [
        "task   system              wall      crit   wall/crit  LLM calls  prompt tok  "
        "compl tok  tool calls  super-steps"
    ]
    for r in results:
        m = r.meter
        steps = str(r.super_steps) if r.super_steps else "-"
        ratio = r.wall / r.critical_path
        lines.append(
            f"{r.task:<6} {r.system:<17} {r.wall:7.2f}s {r.critical_path:7.2f}s {ratio:9.2f}x "
            f"{m.llm_calls:10d} {m.prompt_tokens:11d} {m.completion_tokens:10d} "
            f"{m.tool_calls:11d} {steps:>12}"
        )
    return lines


def ratio_table(by: dict[tuple[str, str], Result]) -> list[str]:
    """planloop against each other system: speed-up and planloop's share of calls and tokens."""
    lines = [
        "task   planloop vs         speed-up  LLM calls  prompt tok  compl tok   "
        "(speed-up = their wall / planloop's; others = planloop's / theirs)"
    ]
    for task in TASKS:
        ours = by[(task.name, "planloop")]
        for system in (*BASELINES, STRONGEST):
            theirs = by[(task.name, system)]
            lines.append(
                f"{task.name:<6} {system:<17} {theirs.wall / ours.wall:9.2f}x "
                f"{ours.meter.llm_calls / theirs.meter.llm_calls:10.2f} "
                f"{ours.meter.prompt_tokens / theirs.meter.prompt_tokens:11.2f} "
                f"{ours.meter.completion_tokens / theirs.meter.completion_tokens:10.2f}"
            )
    return lines


def fastest_lines(by: dict[tuple[str, str], Result], latency: Latency) -> list[str]:
    """How fast a system could be against react-parallel when its model writes the same calls
    and answer (`sim.fastest_possible`), beside the wall-clock target: a target below that floor
    needs a model that writes less than react-parallel's does (a terser plan than its tool
    calls, or no verdict), not a faster framework."""
    title = (
        "fastest possible: a system whose model writes only what react-parallel's writes, every "
        "lookup started the moment its call is written, zero framework time:"
    )
    below = "below it: the model must write less"
    return _floor_lines(by, title, {t.name: fastest_possible(t, latency) for t in TASKS}, below)


def least_lines(by: dict[tuple[str, str], Result], latency: Latency) -> list[str]:
    """The least wall time of any system (`sim.least_possible`) against react-parallel's, beside
    the wall-clock target: a target below it is out of reach whatever planloop's model
    writes and however fast its framework is."""
    title = (
        "least possible: any system, its model writing nothing but the summary, one model call "
        "per level of the dependency chain, zero framework time:"
    )
    floors = {t.name: least_possible(t, latency) for t in TASKS}
    return _floor_lines(by, title, floors, "out of reach for any system")


def _floor_lines(
    by: dict[tuple[str, str], Result], title: str, floors: dict[str, float], below: str
) -> list[str]:
    """Each task's floor against react-parallel's wall, and whether its target is above it."""
    lines = [title]
    for task, floor in floors.items():
        ratio = floor / by[(task, STRONGEST)].wall
        target = WALL_VS_STRONGEST[task]
        verdict = "within reach" if ratio <= target else below
        lines.append(
            f"  {task}: {floor:.2f}s = {ratio:.3f}x {STRONGEST}'s wall (target "
            f"{target:.1f}x: {verdict})"
        )
    return lines


def break_even(by: dict[tuple[str, str], Result], task: Task, latency: Latency) -> list[str]:
    """Tool latency from which planloop's critical path is 3x shorter than each baseline's.

    Each critical path is model time + (tools on it) x tool latency; model time stays fixed.
    """
    ours = by[(task.name, "planloop")]
    ours_model = ours.critical_path - task.longest_chain * latency.tool
    lines = []
    for system in BASELINES:
        theirs = by[(task.name, system)]
        tools = theirs.meter.tool_calls
        theirs_model = theirs.critical_path - tools * latency.tool
        denominator = tools - 3 * task.longest_chain
        needed = (3 * ours_model - theirs_model) / denominator if denominator > 0 else float("inf")
        lines.append(
            f"  {task.name}: planloop's critical path is >= 3x shorter than {system}'s when a "
            f"tool call takes >= {max(needed, 0.0):.2f}s (model latency as above)"
        )
    return lines


def targets(by: dict[tuple[str, str], Result], extras: Extras) -> dict[str, bool]:
    """PASS/MISS of each target."""
    wide = {s: by[("wide", s)] for s in ("planloop", *BASELINES)}
    ours = wide["planloop"]
    checks = {
        "wide: wall <= 1.3x planloop's critical path": ours.wall <= 1.3 * ours.critical_path,
        "wide: >= 3x faster than plan-and-execute and react": all(
            wide[s].wall >= 3 * ours.wall for s in BASELINES
        ),
    }
    for task in TASKS:
        mine = by[(task.name, "planloop")].meter
        others = [by[(task.name, s)].meter for s in BASELINES]
        if task.name != "deep":  # a pure chain: no more calls than ReAct (strongest_targets)
            checks[f"{task.name}: fewer LLM calls than both baselines"] = all(
                mine.llm_calls < o.llm_calls for o in others
            )
        checks[f"{task.name}: fewer prompt tokens than both baselines"] = all(
            mine.prompt_tokens < o.prompt_tokens for o in others
        )
        checks[f"{task.name}: fewer tokens in all (prompt + completion) than both"] = all(
            mine.prompt_tokens + mine.completion_tokens < o.prompt_tokens + o.completion_tokens
            for o in others
        )
    checks.update(strongest_targets(by))
    checks["overhead per super-step <= 2x bare LangGraph"] = extras.step_ratio <= 2
    checks["checkpoint bytes N=40 / N=10 <= 4.5"] = (
        extras.checkpoint_large <= 4.5 * extras.checkpoint_small
    )
    checks["planloop --help start-up < 1 s"] = extras.startup < 1.0
    return checks


def strongest_targets(by: dict[tuple[str, str], Result]) -> dict[str, bool]:
    """PASS/MISS against react-parallel: wall-clock (wide and mixed at most 0.9x, the chain no
    slower), model calls (no more than react-parallel's; the chain no more than ReAct's) and
    fewer prompt tokens, on every task."""
    checks = {}
    for task in TASKS:
        ours, theirs = by[(task.name, "planloop")], by[(task.name, STRONGEST)]
        most = WALL_VS_STRONGEST[task.name]
        checks[f"{task.name}: wall <= {most:.1f}x {STRONGEST}'s"] = ours.wall <= most * theirs.wall
        calls_of = "react" if task.name == "deep" else STRONGEST
        checks[f"{task.name}: no more LLM calls than {calls_of}"] = (
            ours.meter.llm_calls <= by[(task.name, calls_of)].meter.llm_calls
        )
        checks[f"{task.name}: fewer prompt tokens than {STRONGEST}"] = (
            ours.meter.prompt_tokens < theirs.meter.prompt_tokens
        )
    return checks


def extras_lines(extras: Extras) -> list[str]:
    """Overhead, checkpoint growth and start-up."""
    return [
        f"per super-step at zero latency (medians over the tasks' runs): planloop "
        f"{extras.planloop_step * 1000:.2f} ms, bare LangGraph of the same shape on the same "
        f"saver {extras.bare_step * 1000:.2f} ms, ratio {extras.step_ratio:.3f}x "
        "(median of interleaved pairs)",
        f"checkpoint bytes (checkpoints + metadata + writes) for N steps: N=10 "
        f"{extras.checkpoint_small:,}, N=40 {extras.checkpoint_large:,}, ratio "
        f"{extras.checkpoint_large / extras.checkpoint_small:.2f} (linear = 4)",
        f"planloop --help start-up (median of fresh processes): {extras.startup:.3f}s",
    ]
