"""Repairing a proposed plan before it is validated: whatever the system can fix by itself is
fixed (with a one-line note per change), so a rejection, and another planner call, is left for
what only the model can decide (no steps, too many steps, a dependency cycle, an executor step
with neither description nor expected).

What is repaired:

- an id already used by an executed step, or used twice in the plan, gets a fresh one; the
  plan's references to that id mean the plan's own step and follow it (only the renamed step's
  own dependency on the executed step of its old id keeps pointing at the executed step);
- a dependency on the step itself, on an unknown step or on an executed step that failed is
  dropped;
- an arg that is only the name of a variable an earlier step's program prints (`"count"` after
  `print(count)`) stands for that step's result;
- args that refer to another step's result (`{{s1}}`, `{s1.output}`, `$s1`, `<output of s1>`,
  `result of step s1`; any `{{...}}` at all) are left to be filled in from the results when the
  step runs (by code when a placeholder names a step whose result is the value, else by one
  model call), and the steps referred to become dependencies;
- a tool that is not available makes the step an executor step (the executor uses the tools
  there are);
- args that do not validate against the tool's schema are dropped (filled in at run time);
- args without a tool are dropped; missing descriptions and expected outcomes are derived;
- a plan with more steps than the run's budget allows loses the reads its own programs make
  again.

`repair_plan` is pure (apart from the tools' own arg validation, as in `validate_plan`);
`repaired` applies it to a `PlanSpec` and logs the notes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

from nodes.placeholders import Placeholders, find_placeholders, named_values, printed_names
from nodes.plan_check import usable
from nodes.plan_trim import without_reads_made_again
from nodes.schemas import PlanSpec, StepSpec
from nodes.state import StepResult
from tools import validate_args
from tools.runner import args_json_schema

__all__ = ["Repair", "find_placeholders", "repair_plan", "repaired"]  # (from nodes.placeholders)

logger = logging.getLogger(__name__)

MAX_ID_CHARS = 40
"""The longest id a `StepSpec` accepts."""
ARG_CHARS = 300
"""How much of one planned arg a repaired step's description quotes."""
PLANNED_ARGS = " (planned args: "
"""How a step's description starts the args the plan gave it when they are left to a fill call."""
RECENT_RESULTS = 3
"""How many of the newest executed results a placeholder naming no step may refer to, when the
plan has no earlier step of its own."""


@dataclass(frozen=True)
class Repair:
    """The repaired steps and one line per change made."""

    specs: list[StepSpec]
    notes: list[str] = field(default_factory=list)


def accepted(tool: BaseTool) -> set[str]:
    """The names of the arguments `tool` takes."""
    properties = args_json_schema(tool).get("properties")
    return set(properties) if isinstance(properties, dict) else set()


def _clipped(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= ARG_CHARS else text[: ARG_CHARS - 1] + "…"


def fresh_id(old: str, taken: set[str]) -> str:
    """The next free id like `old`: `s1` -> `s2`, `s3`, ...; `read` -> `read_2`, `read_3`, ..."""
    numbered = re.fullmatch(r"(.*?)(\d+)", old)
    prefix, sep, number = (numbered[1], "", int(numbered[2])) if numbered else (old, "_", 1)
    while True:
        number += 1
        suffix = f"{sep}{number}"
        candidate = prefix[: MAX_ID_CHARS - len(suffix)] + suffix
        if candidate not in taken:
            return candidate


class _Repairer:
    """One repair pass over a proposed plan (positions in the plan identify its steps)."""

    def __init__(
        self,
        specs: list[StepSpec],
        tools: Mapping[str, BaseTool],
        finished: Mapping[str, StepResult],
    ) -> None:
        self.tools, self.finished = tools, finished
        self.notes: list[str] = []
        self.planned = [spec.id for spec in specs]
        self.ids = self._unique_ids()
        hoisted = [self._hoisted(spec) for spec in specs]
        self.specs = [
            spec.model_copy(update={"id": new, "depends_on": self._dependencies(index, spec)})
            for index, (spec, new) in enumerate(zip(hoisted, self.ids, strict=True))
        ]

    def _hoisted(self, spec: StepSpec) -> StepSpec:
        """`depends_on` written inside the args (where the tool takes no such argument) is the
        step's dependencies: a 1.5B planner wrote `"tool": null, "args": {"depends_on":
        ["read_values"]}`, and its executor, shown no earlier result, read the file ten times."""
        args = spec.args or {}
        tool = self.tools.get(spec.tool or "")
        if "depends_on" not in args or (tool is not None and "depends_on" in accepted(tool)):
            return spec
        refs = args["depends_on"]
        listed = [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []
        added = [r for r in listed if isinstance(r, str) and r not in spec.depends_on]
        self.notes.append(f"step {spec.id}: depends_on taken out of its args")
        rest = {key: value for key, value in args.items() if key != "depends_on"}
        return spec.model_copy(
            update={"args": rest or None, "depends_on": [*spec.depends_on, *added]}
        )

    def _unique_ids(self) -> list[str]:
        """The plan's ids with every reused or repeated one replaced by a fresh id."""
        taken = set(self.finished) | set(self.planned)
        seen: set[str] = set()
        ids = []
        for old in self.planned:
            new = old
            if old in self.finished or old in seen:
                new = fresh_id(old, taken)
                taken.add(new)
                why = "an executed step" if old in self.finished else "an earlier step of this plan"
                self.notes.append(f"step {old} renamed to {new}: {old} is already the id of {why}")
            seen.add(old)
            ids.append(new)
        return ids

    def resolve(self, index: int, ref: str) -> str | None:
        """The id that the step at `index` means by `ref`: the nearest earlier step of the plan
        with that id, else the first later one, else the executed step; None if none."""
        others = [j for j, old in enumerate(self.planned) if old == ref and j != index]
        before = [j for j in others if j < index]
        if before:
            return self.ids[before[-1]]
        if others:
            return self.ids[others[0]]
        return ref if ref in self.finished else None

    def _dependencies(self, index: int, spec: StepSpec) -> list[str]:
        """The step's dependencies as the plan meant them, without impossible ones."""
        step_id = self.ids[index]
        kept: list[str] = []
        for ref in spec.depends_on:
            target = self.resolve(index, ref)
            if target is None:
                what = "itself" if ref == spec.id else f"unknown step {ref!r}"
                self.notes.append(f"step {step_id}: dropped its dependency on {what}")
            elif target in self.finished and not usable(self.finished[target]):
                self.notes.append(
                    f"step {step_id}: dropped its dependency on step {target!r}, which failed"
                )
            elif target not in kept:
                kept.append(target)
        return kept

    def depends(self, start: str, target: str) -> bool:
        """Whether the plan's step `start` depends on `target`, directly or not."""
        by_id = {spec.id: spec for spec in self.specs}
        pending, seen = [start], set()
        while pending:
            current = pending.pop()
            if current == target:
                return True
            if current not in seen and current in by_id:
                seen.add(current)
                pending.extend(by_id[current].depends_on)
        return False

    def note(self, index: int, text: str) -> None:
        """Record one change made to the step at `index`."""
        self.notes.append(f"step {self.ids[index]}: {text}")

    def repair(self, room: int | None = None) -> Repair:
        """Every step repaired, in plan order; with more steps than the budget has `room` for,
        reads that a program of the plan makes itself are dropped."""
        for index in range(len(self.specs)):
            self.specs[index] = self._repaired_step(index, self.specs[index])
        if room is not None and len(self.specs) > room:
            self.specs, dropped = without_reads_made_again(self.specs, len(self.specs) - room)
            self.notes += dropped
        return Repair(self.specs, self.notes)

    def _repaired_step(self, index: int, spec: StepSpec) -> StepSpec:
        spec = self._named_values(index, spec)
        placeholders = Placeholders()
        if spec.args:
            known = list(dict.fromkeys([*self.planned, *self.finished]))
            placeholders = find_placeholders(spec.args, known)
        if placeholders.found:
            spec = self._with_sources(index, spec, placeholders)
        if spec.tool is None:
            spec = self._executor_step(index, spec)
        elif spec.tool not in self.tools:
            spec = self._instead_of_unavailable_tool(index, spec)
        elif spec.args is not None:
            spec = self._checked_args(index, spec, placeholders)
        return self._described(index, spec)

    def _named_values(self, index: int, spec: StepSpec) -> StepSpec:
        """Args that only name a value an earlier step's program prints stand for its result."""
        if not spec.args:
            return spec
        programs = [
            (self.ids[j], str(earlier.args["code"]))
            for j, earlier in enumerate(self.specs[:index])
            if earlier.tool == "run_python" and earlier.args and "code" in earlier.args
        ]
        args, named = named_values(spec.args, printed_names(programs))
        for key, source in named.items():
            self.note(
                index,
                f"arg {key}={_clipped(spec.args[key])} names the value step {source} prints; "
                "it now stands for that result",
            )
        return spec.model_copy(update={"args": args}) if named else spec

    def _with_sources(self, index: int, spec: StepSpec, placeholders: Placeholders) -> StepSpec:
        """The step depends on the steps its placeholders name; naming none, and without
        dependencies, on the steps before it."""
        found = ", ".join(placeholders.found)
        named = [self.resolve(index, name) for name in placeholders.names]
        sources = [s for s in named if s is not None and s != self.ids[index]]
        if not sources and spec.depends_on:
            return spec
        by_name = bool(sources)
        if not by_name:
            sources = self._earlier_results(index)
            self.note(
                index,
                f"placeholder {found} names no step; it now depends on the results before it: "
                + (", ".join(sources) or "(none)"),
            )
        failed = [s for s in sources if s in self.finished and not usable(self.finished[s])]
        if failed:
            self.note(index, f"its args refer to {', '.join(failed)}, which failed")
        added = [s for s in sources if s not in failed and s not in spec.depends_on]
        if added and by_name:
            self.note(index, f"now depends on {', '.join(added)}, which its args refer to")
        return spec.model_copy(update={"depends_on": [*spec.depends_on, *added]})

    def _earlier_results(self, index: int) -> list[str]:
        """The steps before this one in the plan that do not wait on it; without any, the
        newest usable executed steps."""
        step_id = self.ids[index]
        earlier = [s for s in self.ids[:index] if not self.depends(s, step_id)]
        if earlier:
            return earlier
        executed = [i for i, result in self.finished.items() if usable(result)]
        return executed[-RECENT_RESULTS:]

    def _executor_step(self, index: int, spec: StepSpec) -> StepSpec:
        if not spec.args:
            return spec.model_copy(update={"args": None})
        self.note(index, f"args {_clipped(spec.args)} dropped: they were given without a tool")
        description = spec.description.strip() or f"do this: {_clipped(spec.args)}"
        return spec.model_copy(update={"args": None, "description": description})

    def _instead_of_unavailable_tool(self, index: int, spec: StepSpec) -> StepSpec:
        tool = spec.tool or ""
        call = f"{tool}({_clipped(spec.args) if spec.args else ''})"
        self.note(
            index,
            f"tool {tool!r} is not available; the executor does the step with the tools that "
            f"are: {', '.join(self.tools) or '(none)'}",
        )
        description = spec.description.strip() or f"do what {call} would do"
        return spec.model_copy(update={"tool": None, "args": None, "description": description})

    def _checked_args(self, index: int, spec: StepSpec, placeholders: Placeholders) -> StepSpec:
        """Args that hold placeholders or do not validate are left to the fill call."""
        args = spec.args or {}
        if placeholders.found:
            sources = ", ".join(spec.depends_on) or "earlier steps"
            self.note(
                index,
                f"args hold placeholder(s) {', '.join(placeholders.found)}; they are filled in "
                f"from the results of {sources} when the step runs",
            )
            hint = f"replace each placeholder by the real value from the results of {sources}"
            return self._to_fill(spec.model_copy(update={"templated_args": dict(args)}), hint)
        tool = self.tools[spec.tool or ""]
        problem = validate_args(tool, args)
        if problem is None:
            return spec
        self.note(index, f"{problem}; the args are filled in when the step runs")
        return self._to_fill(spec, f"these args were invalid ({problem}); correct them")

    def _to_fill(self, spec: StepSpec, hint: str) -> StepSpec:
        """The step with its args left to the fill call, which reads them off the
        description."""
        planned = "; ".join(f"{key}={_clipped(value)}" for key, value in (spec.args or {}).items())
        # A replan often copies an earlier step's description, with the note added then.
        what = spec.description.split(PLANNED_ARGS)[0].strip() or f"call {spec.tool}"
        description = f"{what}{PLANNED_ARGS}{planned}; {hint})"
        return spec.model_copy(update={"args": None, "description": description})

    def _described(self, index: int, spec: StepSpec) -> StepSpec:
        """Missing descriptions and expected outcomes, derived from what the step says."""
        description, expected = spec.description.strip(), spec.expected.strip()
        if spec.tool and spec.args is None and not description:
            self.note(index, f"no description: described as 'call {spec.tool}'")
            return spec.model_copy(update={"description": f"call {spec.tool}"})
        if spec.tool is None and description and not expected:
            self.note(index, "no expected outcome: the description stands for it")
            return spec.model_copy(update={"expected": description})
        if spec.tool is None and expected and not description:
            self.note(index, "no description: the expected outcome stands for it")
            return spec.model_copy(update={"description": expected})
        return spec


def repair_plan(
    specs: list[StepSpec],
    *,
    tools: Mapping[str, BaseTool],
    finished: Mapping[str, StepResult],
    room: int | None = None,
) -> Repair:
    """The proposed steps with every problem the system can fix fixed, and a note per fix.

    `tools`: the tools available to this run; `finished`: the results so far, by step id;
    `room`: how many more steps the run's budget allows (None: no limit). What is left for
    `validate_plan` to reject needs the model (see the module docstring)."""
    if not specs:
        return Repair(list(specs))
    return _Repairer(list(specs), tools, finished).repair(room)


def repaired(
    spec: PlanSpec,
    *,
    tools: Mapping[str, BaseTool],
    finished: Mapping[str, StepResult],
    room: int | None = None,
) -> PlanSpec:
    """`spec` after `repair_plan`, with each note logged at INFO."""
    repair = repair_plan(spec.steps, tools=tools, finished=finished, room=room)
    for note in repair.notes:
        logger.info("plan repaired: %s", note)
    return spec.model_copy(update={"steps": repair.specs}) if repair.notes else spec
