"""Trimming a plan that has more steps than the run's budget allows, of steps it does not need."""

from __future__ import annotations

from nodes.schemas import StepSpec


def without_reads_made_again(
    specs: list[StepSpec], surplus: int
) -> tuple[list[StepSpec], list[str]]:
    """The plan without up to `surplus` read_file steps that nothing depends on and whose file
    a run_python step of the plan opens itself, and a note per dropped step (a 1.5B planner
    wrote a read before each program that reads its file again: nine steps for three parts,
    one more than the run's budget)."""
    used = {dep for spec in specs for dep in spec.depends_on}
    code = "\n".join(
        str(spec.args.get("code", "")) for spec in specs if spec.tool == "run_python" and spec.args
    )
    kept: list[StepSpec] = []
    notes: list[str] = []
    for spec in specs:
        path = str((spec.args or {}).get("path", "")).strip().removeprefix("./")
        read_again = bool(path) and any(f"{quote}{path}{quote}" in code for quote in "'\"")
        if len(notes) < surplus and spec.tool == "read_file" and spec.id not in used and read_again:
            notes.append(
                f"step {spec.id}: dropped: the plan has more steps than the budget allows, and "
                f"a program of the plan reads {path} itself"
            )
            continue
        kept.append(spec)
    return kept, notes
