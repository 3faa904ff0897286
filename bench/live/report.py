"""The live suite's table: one line per goal and system, then totals per system; and its JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.live.runner import Row

HEADER = (
    f"{'goal':<16} {'system':<20} {'pass':>5} {'status':<17} {'agreement':<13} "
    f"{'calls':>5} {'prompt':>7} {'compl':>6} {'tools':>5} {'wall s':>7} {'exit':>4}"
)


@dataclass
class Totals:
    """One system over every run of the suite."""

    system: str
    runs: int
    passed: int
    false_done: int
    false_failed: int
    no_verdict: int
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    tool_calls: int
    wall_seconds: float

    @property
    def pass_rate(self) -> float:
        """Passed runs / runs."""
        return self.passed / self.runs if self.runs else 0.0


def totals(rows: Sequence[Row]) -> list[Totals]:
    """Totals per system, in the order the systems first appear."""
    systems = list(dict.fromkeys(row.system for row in rows))
    result = []
    for system in systems:
        mine = [row for row in rows if row.system == system]
        result.append(
            Totals(
                system=system,
                runs=len(mine),
                passed=sum(r.passed for r in mine),
                false_done=sum(r.agreement == "false done" for r in mine),
                false_failed=sum(r.agreement == "false failed" for r in mine),
                no_verdict=sum(r.agreement == "no verdict" for r in mine),
                model_calls=sum(r.model_calls for r in mine),
                prompt_tokens=sum(r.prompt_tokens for r in mine),
                completion_tokens=sum(r.completion_tokens for r in mine),
                tool_calls=sum(r.tool_calls for r in mine),
                wall_seconds=round(sum(r.wall_seconds for r in mine), 1),
            )
        )
    return result


def row_line(row: Row) -> str:
    """One run as a table line."""
    exit_code = "-" if row.exit_code is None else str(row.exit_code)
    return (
        f"{row.goal:<16} {row.system:<20} {'yes' if row.passed else 'no':>5} {row.status:<17} "
        f"{row.agreement:<13} {row.model_calls:>5} {row.prompt_tokens:>7} "
        f"{row.completion_tokens:>6} {row.tool_calls:>5} {row.wall_seconds:>7.1f} {exit_code:>4}"
    )


def pass_rates(rows: Sequence[Row]) -> list[str]:
    """With repeats: `goal system passed/runs` per goal and system."""
    keys = list(dict.fromkeys((row.goal, row.system) for row in rows))
    lines = []
    for goal, system in keys:
        mine = [r for r in rows if (r.goal, r.system) == (goal, system)]
        lines.append(f"{goal:<16} {system:<20} {sum(r.passed for r in mine)}/{len(mine)} passed")
    return lines


def totals_lines(rows: Sequence[Row]) -> list[str]:
    """The totals table."""
    lines = [
        f"{'system':<20} {'passed':>9} {'false done':>10} {'false failed':>12} "
        f"{'no verdict':>10} {'calls':>6} {'prompt':>8} {'compl':>7} {'tools':>6} {'wall s':>8}"
    ]
    for t in totals(rows):
        lines.append(
            f"{t.system:<20} {f'{t.passed}/{t.runs}':>9} {t.false_done:>10} {t.false_failed:>12} "
            f"{t.no_verdict:>10} {t.model_calls:>6} {t.prompt_tokens:>8} "
            f"{t.completion_tokens:>7} {t.tool_calls:>6} {t.wall_seconds:>8.1f}"
        )
    return lines


def render(rows: Sequence[Row], *, repeats: int) -> str:
    """Per-run lines, pass rates when repeated, and totals per system."""
    lines = [HEADER, *(row_line(row) for row in rows), ""]
    if repeats > 1:
        lines += ["pass rates:", *pass_rates(rows), ""]
    lines += ["totals:", *totals_lines(rows)]
    return "\n".join(lines)


def write_json(path: Path, rows: Sequence[Row], meta: dict[str, Any]) -> None:
    """The whole table (every run, totals with pass rates, the run's settings) as JSON."""
    data = {
        "meta": meta,
        "runs": [asdict(row) for row in rows],
        "totals": [{**asdict(t), "pass_rate": round(t.pass_rate, 3)} for t in totals(rows)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def markdown(rows: Sequence[Row]) -> str:
    """The per-run table and the totals as Markdown (for the README)."""
    lines = [
        "| goal | system | passed | status | agreement | calls | prompt tok | compl tok "
        "| tools | wall s | exit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        exit_code = "-" if r.exit_code is None else str(r.exit_code)
        lines.append(
            f"| {r.goal} | {r.system} | {'yes' if r.passed else 'no'} | {r.status} | "
            f"{r.agreement} | {r.model_calls} | {r.prompt_tokens:,} | {r.completion_tokens:,} | "
            f"{r.tool_calls} | {r.wall_seconds:.0f} | {exit_code} |"
        )
    lines += [
        "",
        "| system | passed | false done | false failed | no verdict | calls | prompt tok "
        "| compl tok | tools | wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in totals(rows):
        lines.append(
            f"| {t.system} | {t.passed}/{t.runs} ({t.pass_rate:.0%}) | {t.false_done} | "
            f"{t.false_failed} | {t.no_verdict} | {t.model_calls} | {t.prompt_tokens:,} | "
            f"{t.completion_tokens:,} | {t.tool_calls} | {t.wall_seconds / 60:.1f} min |"
        )
    return "\n".join(lines)


def rows_from_json(path: Path) -> list[Row]:
    """The runs of a table written by `write_json`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Row(**run) for run in data["runs"]]
