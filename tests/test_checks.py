"""Criteria checked by code: the checks themselves, how the goal analysis builds them, and runs
whose verdict follows the workspace rather than the model's opinion."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest

from graph.api import arun
from nodes.check_grounding import grounded_check, json_shape, merge_checks, usable_check
from nodes.checks import JUDGES, run_check, verify
from nodes.context import Context
from nodes.goal_files import line_properties, output_checks
from nodes.parse_goal import criteria_of
from nodes.schemas import GoalSpec
from nodes.state import Check, CheckKind, Criterion
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step, tool_call
from tools.confinement import Confinement
from tools.workspace import digest


@pytest.fixture
def guard(workspace: Path) -> Confinement:
    """The workspace as the file tools see it."""
    return Confinement.of(workspace.resolve(), "t", (), ())


@pytest.mark.parametrize(
    ("kind", "text", "content", "passed"),
    [
        ("file_exists", "", "x\n", True),
        ("file_exists", "", "  \n", False),
        ("file_contains", "Hello  World", "say hello\nworld!", True),
        ("file_contains", "goodbye", "hello", False),
        ("file_matches", "^[0-9]+$", "42\n", True),
        ("file_matches", "^[0-9]+$", "2\n3\n5\n", False),  # a list is not one number
        ("file_matches", "total: [0-9]+", "intro\ntotal: 42\n", True),
        ("file_matches", "^[0-9]+$", "4 2", False),
        ("file_matches", "([", "anything", False),
        ("json_has_key", "north.total", '{"north": {"total": 1}}', True),
        ("json_has_key", "south", '{"north": 1}', False),
        ("json_has_key", "north", "not json", False),
        ("file_number", "", "The sum is 1,234.5\n", True),
        ("file_number", "", "2\n3\n5\n", False),
        ("file_json", "", '{"a": 1}', True),
        ("file_json", "", "{'a': 1}", False),
        ("file_lines", "sorted unique", "adam\nBen\nZoe\n", True),  # case-insensitive order
        ("file_lines", "sorted", "Ben\nZoe\nadam\n", True),  # plain character order
        ("file_lines", "sorted", "Zoe\nadam\nBen\n", False),
        ("file_lines", "unique", "Zoe\nadam\nZoe\n", False),
        ("file_lines", "sorted unique", "\n\n", False),
        ("file_lines", "lines=5", "There once\nwas a cat\n\nnamed Biscuit\nwho sat\n", False),
        ("file_lines", "lines=2", "one\n\ntwo\n", True),
    ],
)
def test_each_check_reads_the_workspace(
    guard: Confinement, workspace: Path, kind: str, text: str, content: str, passed: bool
) -> None:
    (workspace / "out.txt").write_text(content)
    outcome = run_check(Check(kind=kind, path="out.txt", text=text), guard)  # type: ignore[arg-type]
    assert outcome.passed is passed, outcome.detail


def test_a_missing_file_or_one_outside_the_workspace_fails(
    guard: Confinement, workspace: Path
) -> None:
    (workspace.parent / "secret.txt").write_text("secret")
    assert not run_check(Check(kind="file_exists", path="nope.txt"), guard).passed
    outside = run_check(Check(kind="file_contains", path="../secret.txt", text="secret"), guard)
    assert not outside.passed and "'..'" in outside.detail


@pytest.mark.parametrize(
    ("kind", "text", "meant"),
    [
        ("file_matches", "^[0-9]+$", ("file_number", "")),
        ("file_contains", "^\\d+(\\.\\d+)?$", ("file_number", "")),
        ("file_matches", "^[a-zA-Z ]{5,}$", ("file_exists", "")),  # a limerick's "pattern"
        ("file_contains", "port = 9090", ("file_contains", "port = 9090")),  # the goal's words
        ("file_contains", "Biscuit", ("file_exists", "")),  # not the goal's: a guess
        ("file_contains", "9090", ("file_contains", "9090")),
        ("file_contains", "a limerick", ("file_exists", "")),  # the goal's, but a description
        ("file_contains", "0, 1, 1, 2", ("file_exists", "")),  # the goal's, but an example
        ("file_contains", "out.md", ("file_exists", "")),  # a file name, not content
        ("json_has_key", "region", ("file_json", "")),
        ("file_exists", "junk", ("file_exists", "")),
    ],
)
def test_content_a_check_asks_for_must_come_from_the_goal(
    kind: str, text: str, meant: tuple[str, str]
) -> None:
    goal = (
        "In config.ini set port = 9090, write a limerick (like 0, 1, 1, 2) to out.md, "
        "and count it in JSON"
    )
    check = grounded_check(Check(kind=kind, path="out.md", text=text), goal)  # type: ignore[arg-type]
    assert (check.kind, check.text) == meant
    assert check.decides is (meant[0] == "file_contains")  # only the goal's own words decide


@pytest.mark.parametrize(
    ("goal", "kind", "path", "meant"),
    [
        (
            "Write a five-line limerick about my cat to out.md",
            "file_number",
            "out.md",
            "file_exists",
        ),
        (
            "Count the words in a.txt and write the number to n.txt",
            "file_number",
            "n.txt",
            "file_number",
        ),
        ("Write the sum of the primes to s.txt", "file_matches", "s.txt", "file_number"),
        (  # many numbers, one per line: "holds exactly one number" fails every right file
            "Write the first N Fibonacci numbers to fib.txt, one per line",
            "file_number",
            "fib.txt",
            "file_exists",
        ),
        ("Write a poem to p.txt", "file_json", "p.txt", "file_exists"),
        ("Write the totals to t.json", "file_json", "t.json", "file_json"),
        ("Write the totals as one JSON object to t.txt", "json_has_key", "t.txt", "file_json"),
    ],
)
def test_a_partial_check_is_of_a_kind_the_goal_asks_for(
    goal: str, kind: str, path: str, meant: str
) -> None:
    text = "^[0-9]+$" if kind == "file_matches" else "north"
    check = grounded_check(Check(kind=kind, path=path, text=text), goal)  # type: ignore[arg-type]
    assert check.kind == meant and not check.decides


def test_every_kind_of_check_has_a_judge() -> None:
    assert set(JUDGES) == set(get_args(CheckKind))


def test_file_changed_compares_with_the_content_at_analysis(
    guard: Confinement, workspace: Path
) -> None:
    (workspace / "config.ini").write_text("port = 8080\n")
    check, why = usable_check(Check(kind="file_changed", path="config.ini"), guard)
    assert check is not None and not why and check.baseline == digest("port = 8080\n")
    assert not run_check(check, guard).passed
    (workspace / "config.ini").write_text("port = 9090\n")
    assert run_check(check, guard).passed


def test_output_files_are_the_missing_ones_the_goal_writes(
    guard: Confinement, workspace: Path
) -> None:
    (workspace / "essay.txt").write_text("some words")
    goal = (
        "Count the words in essay.txt and write the number to count.txt; fetch "
        "http://example.org/page.html first and save a copy as notes/page.md"
    )
    assert [c.path for c in output_checks(goal, False, guard)] == ["count.txt", "notes/page.md"]
    # An input the goal names but the workspace lacks is not an output.
    assert output_checks("summarise notes.txt", False, guard) == []


def test_a_goal_that_edits_a_file_in_place_needs_it_changed(
    guard: Confinement, workspace: Path
) -> None:
    (workspace / "config.ini").write_text("port = 8080\n")
    edit = "In config.ini change the server port from 8080 to 9090."
    (check,) = output_checks(edit, False, guard)
    assert check.kind == "file_changed" and check.baseline == digest("port = 8080\n")
    assert not run_check(check, guard).passed
    # A goal that writes elsewhere reads the file; a file that is not there is no edit.
    assert [c.kind for c in output_checks("Fix config.ini, write the port to port.txt", False,
                                          guard)] == ["file_exists"]  # fmt: skip
    assert output_checks("In missing.ini change the port", False, guard) == []
    (workspace / "sales.csv").write_text("region,amount\n")
    (workspace / "report.md").write_text("# Report\n")
    update = "Update report.md with the totals from sales.csv"
    assert [c.path for c in output_checks(update, False, guard)] == ["report.md"]


CSV_TOTALS = (
    "sales.csv has the columns region and amount. Write the total amount per region to "
    'totals.json as one JSON object, e.g. {"north": 1.5}.'
)


@pytest.mark.parametrize(
    ("goal", "shape"),
    [
        (CSV_TOTALS, "object"),
        ("Write the names to out.json as a JSON list", "array"),
        ("Save a JSON array to out.json: the prices", "array"),
        ("Write the totals to out.json", ""),  # no shape named: any JSON will do
        ("Write a JSON object per line to out.json", ""),  # JSON Lines: no one document
        # Words about an input, or about the elements, are not the output's shape.
        ("orders.json is a JSON array of orders; write the total per customer to out.json", ""),
        ("Write out.json as a list of users, each a JSON object", ""),
        ("Write out.json as a JSON object; also write a JSON list in out.json", ""),  # both
    ],
)
def test_the_json_shape_a_goal_names_is_checked(goal: str, shape: str) -> None:
    path = "totals.json" if goal == CSV_TOTALS else "out.json"
    assert json_shape(goal, path) == shape
    check = grounded_check(Check(kind="json_has_key", path=path, text="north"), goal)
    assert (check.kind, check.text, check.decides) == ("file_json", shape, False)


def test_a_json_file_of_another_shape_fails_its_check(guard: Confinement, workspace: Path) -> None:
    """Live, csv_totals' programs alternated between a list of records and the object the goal
    asks for until the run's time ran out; the shape check sends the list back."""
    (check,) = output_checks(CSV_TOTALS, False, guard)
    assert (check.kind, check.path, check.text) == ("file_json", "totals.json", "object")
    records = '[{"region": "north", "amount": 1.5}]'
    (workspace / "totals.json").write_text(records)
    failed = run_check(check, guard)
    assert not failed.passed
    assert failed.detail == "totals.json holds a JSON array, not the JSON object the goal asks for"
    (workspace / "totals.json").write_text("7")
    assert "holds a single value, not the JSON object" in run_check(check, guard).detail
    (workspace / "totals.json").write_text('{"north": 1.5}')
    assert run_check(check, guard).passed
    # The model's own criterion on the file keeps its words; the shape is its partial check.
    said = Criterion(
        id="c1",
        text="totals.json holds the total amount per region",
        check=Check(kind="file_json", path="totals.json", decides=False),
    )
    (merged,), _ = merge_checks([said], [check])
    assert merged.text == said.text and merged.check == replace(check, decides=False)


def test_an_edit_that_must_leave_the_other_lines_keeps_them(
    guard: Confinement, workspace: Path
) -> None:
    """A 1.5B executor wrote `server_port = 9090` over config.ini's whole [server] section."""
    config = "[server]\nhost = 0.0.0.0\nport = 8080\n\n[log]\nlevel = info\n"
    (workspace / "config.ini").write_text(config)
    edit = "In config.ini change the server port from 8080 to 9090."
    goal = f"{edit} Leave every other line as it is."
    changed, kept = output_checks(goal, False, guard)
    assert (changed.kind, kept.kind) == ("file_changed", "file_kept")
    (workspace / "config.ini").write_text("server_port = 9090\n[log]\nlevel = info")
    assert "has 3 lines, not 6 as before" in run_check(kept, guard).detail
    (workspace / "config.ini").write_text(config.replace("host = 0.0.0.0", "host = x"))
    assert "line 2 was 'host = 0.0.0.0'" in run_check(kept, guard).detail
    (workspace / "config.ini").write_text(config.replace("8080", "9090"))
    assert run_check(kept, guard).passed and run_check(changed, guard).passed
    # configparser writes the same lines and a blank one at the end: nothing the user keeps.
    (workspace / "config.ini").write_text(config.replace("8080", "9090") + "\n")
    assert run_check(kept, guard).passed
    (workspace / "config.ini").write_text(config.replace("8080", "9090").replace("\n\n", "\n"))
    assert "has 5 lines, not 6 as before" in run_check(kept, guard).detail  # a blank line inside
    # Without words that keep the rest, or without a value to change, nothing is held.
    (workspace / "config.ini").write_text(config)
    assert [c.kind for c in output_checks(edit, False, guard)] == ["file_changed"]
    no_value = "In config.ini change the port. Leave every other line as it is."
    assert [c.kind for c in output_checks(no_value, False, guard)] == ["file_changed"]


def test_lines_sorted_or_deduplicated_from_an_input_must_each_be_one_of_its_lines(
    guard: Confinement, workspace: Path
) -> None:
    """Two 1.5B programs, written apart, both lowercased the names of names.txt "sorted
    ignoring case", and agreed; the goal asks to sort and de-duplicate its lines, not to change
    them."""
    (workspace / "names.txt").write_text("Zoe\nadam\nBen\nZoe\n")
    goal = "Write the names from names.txt to out.txt, sorted alphabetically ignoring case."
    (check,) = output_checks(goal, False, guard)
    (workspace / "out.txt").write_text("adam\nben\nzoe\n")
    outcome = run_check(check, guard)
    assert not outcome.passed
    assert "out.txt line 2 is 'ben', which is no line of names.txt" in outcome.detail
    # A stray line is named before the order it breaks (live: a pandas header line 'name'
    # was reported as "'name' before 'adam'", and the model sorted again).
    (workspace / "out.txt").write_text("name\nadam\nBen\nZoe\n")
    assert (
        "out.txt line 1 is 'name', which is no line of names.txt" in run_check(check, guard).detail
    )
    (workspace / "out.txt").write_text("adam\nBen\nZoe\n")
    assert run_check(check, guard).passed
    # Names changed on purpose, lines not taken "from" an input, or a data file: no such rule.
    for other in (
        "Write the names from names.txt to upper.txt in uppercase, sorted alphabetically.",
        "Write the names in names.txt to in.txt, sorted alphabetically.",
    ):
        (check,) = output_checks(other, False, guard)
        assert "\n" not in check.text
    (workspace / "users.json").write_text('["b", "a"]')
    from_json = "Write the names from users.json to list.txt, sorted alphabetically."
    (check,) = output_checks(from_json, False, guard)
    assert "\n" not in check.text


def test_one_line_per_item_of_the_input_is_a_line_count(
    guard: Confinement, workspace: Path
) -> None:
    (workspace / "tasks.txt").write_text("buy milk\n\ncall the plumber\nbook dentist\n")
    goal = "Turn the tasks in tasks.txt into a checklist in todo.md: one '- [ ] task' line per task"
    (check,) = output_checks(goal, False, guard)
    assert (check.kind, check.path, check.text) == ("file_lines", "todo.md", "lines=3")
    (workspace / "todo.md").write_text("- [ ] buy milk\n- [ ] call the plumber\n" * 2)
    assert "4 non-empty lines, not 3" in run_check(check, guard).detail
    # Without "one line per", or with a data file as the input, there is no count to keep.
    assert output_checks("Turn tasks.txt into a checklist in done.md", False, guard)[0].kind == (
        "file_exists"
    )
    (workspace / "rows.csv").write_text("a,b\n1,2\n")
    table = "Convert rows.csv into table.md, one line per row."
    assert output_checks(table, False, guard)[0].kind == "file_exists"


async def test_an_edit_that_changed_nothing_is_not_done_whatever_the_review_cites(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A 1.5B run of config_port ended a false "done": both edits failed (no such text), and
    the reviewer answered "line 2" for the two criteria it had invented, neither with a check."""
    context.max_replans = 0
    (workspace / "config.ini").write_text("[server]\nhost = 0.0.0.0\nport = 8080\n")
    script.add("parse_goal", goal_reply("config.ini contains the line 'server_port = 9090'"))
    edit = {"path": "config.ini", "old_text": "server_port = 8080", "new_text": "x"}
    script.add("plan", plan_reply(step("s1", tool="edit_file", args=edit, risk="writes_workspace")))
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "line 2"})
    script.defaults["plan"] = plan_reply()
    script.defaults["finish"] = "could not finish"

    outcome = await arun("In config.ini change the server port from 8080 to 9090.",
                         context=context, db=db_path)  # fmt: skip

    assert outcome.status != "done"
    assert not outcome.criteria[0].met
    assert outcome.criteria[0].check is not None
    assert outcome.criteria[0].check.kind == "file_changed"


def test_the_analysis_keeps_outcomes_and_drops_what_is_true_already(
    guard: Confinement, workspace: Path
) -> None:
    (workspace / "sales.csv").write_text("region,amount\nnorth,1\n")
    spec = GoalSpec.model_validate(
        {
            "objective": "total per region",
            "criteria": [
                {
                    "text": "sales.csv has a region column",
                    "check": {"kind": "file_contains", "path": "sales.csv", "text": "region"},
                },
                "the totals are written to totals.json",
                "the script is documented with comments",
                "the code is efficient",
                "the answer is clear",
            ],
        }
    )
    goal = "Write the totals of sales.csv to totals.json"
    criteria, notes = criteria_of(spec, goal, False, guard)

    # A claim about the input (its check names sales.csv, which the goal only reads) is no
    # outcome of the goal: dropped, as are the unchecked criteria beyond two.
    assert [(c.text, c.check) for c in criteria] == [
        (
            "the totals are written to totals.json",
            Check(kind="file_exists", path="totals.json", decides=False),
        ),
        ("the script is documented with comments", None),
        ("the code is efficient", None),
    ]
    assert [c.id for c in criteria] == ["c1", "c2", "c3"]
    assert any("about sales.csv, an input the goal does not ask to change" in n for n in notes)
    assert sum("only a model could judge it" in note for note in notes) == 1


def test_an_output_no_criterion_names_gets_its_own() -> None:
    named = Criterion(id="c1", text="the report is written")
    merged, notes = merge_checks([named], [Check(kind="file_exists", path="report.md")])
    assert [(c.id, c.text, c.check is not None) for c in merged] == [
        ("c1", "the report is written", False),
        ("c2", "report.md is written", True),
    ]
    assert notes == []


def test_an_output_check_decides_only_a_criterion_about_the_file_existing() -> None:
    output = Check(kind="file_exists", path="out.md")
    merged, _ = merge_checks(
        [
            Criterion(id="c1", text="`out.md` is written."),
            Criterion(id="c2", text="out.md lists every adult"),
        ],
        [output],
    )
    assert merged[0].check is not None and merged[0].check.decides
    other, _ = merge_checks([Criterion(id="c1", text="out.md lists every adult")], [output])
    assert other[0].check is not None and not other[0].check.decides


def _goal(*criteria: object, effort: str = "full") -> dict[str, object]:
    return {"objective": "do the goal", "criteria": list(criteria), "effort": effort}


async def test_a_check_overrules_a_model_that_says_met(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.max_replans = 1
    script.add("parse_goal", _goal("out.txt holds the answer", "the answer is explained"))
    script.add("plan", plan_reply(step("s1", tool="list_files", args={})))  # writes nothing
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote it", "c2": "s1 says so"}))
    script.add("plan", plan_reply(step("s2", tool="list_files", args={"path": "."})))
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "s2 wrote it", "c2": "s2 says so"}))

    outcome = await arun("write the answer to out.txt", context=context, db=db_path)

    assert outcome.status != "done"
    c1 = outcome.criteria[0]
    assert c1.check is not None and not c1.met and c1.evidence == ""
    replan_prompt = "\n".join(m.text for m in script.calls_for("plan")[1])
    assert "checks failed: c1" in replan_prompt and "out.txt" in replan_prompt


async def test_a_check_overrules_a_model_that_says_not_met(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    holds_42 = {
        "text": "out.txt holds 42",
        "check": {"kind": "file_contains", "path": "out.txt", "text": "42"},  # the goal's words
    }
    script.add("parse_goal", _goal(holds_42, "the number is explained"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "out.txt", "content": "42"})),
    )
    # The reviewer wrongly fails the step and the file criterion, but evidences c2.
    script.add("reflect", reflect_reply({"s1": False}, {"c2": "s1 explains it"}, answer_step=None))
    script.add("finish", "out.txt holds 42")

    outcome = await arun("write 42 to out.txt", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert outcome.criteria[0].met and outcome.criteria[0].evidence.startswith("checked: ")
    assert [role for role, _ in script.calls] == ["parse_goal", "plan", "reflect", "finish"]


async def test_a_criterion_nobody_can_evidence_does_not_block_a_verified_finish(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", _goal("out.txt is written", "the file is beautiful"))
    write = step("s1", tool="write_file", args={"path": "out.txt", "content": "x"})
    script.add("plan", plan_reply(write))
    script.add("reflect", reflect_reply({"s1": True}))  # c2 unmet
    script.add("plan", plan_reply(step("s2", tool="read_file", args={"path": "out.txt"})))
    script.add("reflect", reflect_reply({"s2": True}))  # still unmet
    script.add("finish", "out.txt is written")

    outcome = await arun("write out.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert "no evidence was found for c2" in outcome.stop_reason
    assert outcome.budget.replans == 1  # one replan tried to evidence it, not more


async def test_the_short_path_runs_the_goal_as_one_executor_step(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    (workspace / "limit.txt").write_text("10\n")
    script.add(
        "parse_goal",
        _goal(
            {
                "text": "sum.txt holds 55",
                "check": {"kind": "file_contains", "path": "sum.txt", "text": "55"},
            },
            effort="short",
        ),
    )
    script.add(
        "execute",
        tool_call("read_file", {"path": "limit.txt"}, "c1"),
        tool_call("write_file", {"path": "sum.txt", "content": "55\n"}, "c2"),
    )

    outcome = await arun("Check that 1..N (N in limit.txt) sums to 55; write 55 to sum.txt",
                         context=context, db=db_path)  # fmt: skip

    assert outcome.status == "done", outcome.stop_reason
    assert (workspace / "sum.txt").read_text() == "55\n"
    # The check passed after the write: no turn is spent on the executor saying it is done,
    # and the write's own observation is the answer.
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "execute"]
    assert outcome.answer.startswith("Done.") and "sum.txt contains '55'" in outcome.answer
    # The input the goal names is in the executor's first prompt: no turn spent reading it.
    assert '<file path="limit.txt">\n10\n' in script.calls_for("execute")[0][1].text
    assert outcome.budget.llm_calls == 2 + 1


async def test_the_executor_hears_what_a_check_found_wrong_after_its_write(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    check = {"kind": "file_contains", "path": "sum.txt", "text": "55"}
    script.add("parse_goal", _goal({"text": "sum.txt holds 55", "check": check}, effort="short"))
    script.add(
        "execute",
        tool_call("write_file", {"path": "sum.txt", "content": "54\n"}, "c1"),
        tool_call("write_file", {"path": "sum.txt", "content": "55\n"}, "c2"),
    )

    outcome = await arun("write 55 to sum.txt", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    told = script.calls_for("execute")[1][-1].text
    assert told.startswith("Checked in the workspace after your call: c1 (sum.txt holds 55)")
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "execute"]


async def test_a_failed_short_path_falls_back_to_a_plan(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.approval = "none"
    script.add("parse_goal", _goal("sum.txt is written", effort="short"))
    script.add("execute", "I could not do it.")  # writes nothing
    script.add(
        "plan",
        plan_reply(step("s2", tool="write_file", args={"path": "sum.txt", "content": "55"})),
    )

    outcome = await arun("write the sum to sum.txt", context=context, db=db_path)

    assert outcome.status == "done", outcome.stop_reason
    assert [role for role, _ in script.calls] == ["parse_goal", "execute", "plan"]
    assert "checks failed" in "\n".join(m.text for m in script.calls_for("plan")[0])


async def test_effort_set_by_the_user_wins_over_the_analysis(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    context.effort = "full"
    script.add("parse_goal", _goal("sum.txt is written", effort="short"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "sum.txt", "content": "55"})),
    )

    outcome = await arun("write the sum to sum.txt", context=context, db=db_path)

    assert outcome.status == "done"
    assert [role for role, _ in script.calls] == ["parse_goal", "plan"]


async def test_the_short_path_asks_approval_once_before_anything_runs(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    script.add("parse_goal", _goal("sum.txt is written", effort="short"))

    outcome = await arun("write the sum to sum.txt", context=context, db=db_path)

    (request,) = outcome.pending.values()
    assert outcome.status == "running" and request["step_id"] == "s1"
    assert [role for role, _ in script.calls] == ["parse_goal"]  # nothing ran yet


async def test_a_partial_check_leaves_the_content_to_the_review(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    """A number in the file is necessary, not sufficient: the reviewer sees the file and says."""
    context.approval = "none"
    (workspace / "names.txt").write_text("b\na\n")
    number = {"kind": "file_matches", "path": "count.txt", "text": "^[0-9]+$"}
    script.add("parse_goal", _goal({"text": "count.txt holds the count", "check": number}))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "count.txt", "content": "7"})),
    )
    script.add("reflect", reflect_reply({"s1": True}, replan=True, reason="there are 2 names"))
    script.add(
        "plan",
        plan_reply(step("s2", tool="write_file", args={"path": "count.txt", "content": "2"})),
    )
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "count.txt says 2"}))

    outcome = await arun("Count the names in names.txt; write it to count.txt", context=context,
                         db=db_path)  # fmt: skip

    assert outcome.status == "done" and (workspace / "count.txt").read_text() == "2"
    first_review = "\n".join(m.text for m in script.calls_for("reflect")[0])
    assert '<file path="count.txt">\n7\n</file>' in first_review  # judged on the content
    assert outcome.criteria[0].evidence == "count.txt says 2"


async def test_a_failed_check_needs_no_review_to_be_unmet(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    number = {"kind": "file_matches", "path": "n.txt", "text": "^[0-9]+$"}  # partial: a number
    script.add("parse_goal", _goal({"text": "n.txt holds the count", "check": number}))
    script.add(
        "plan", plan_reply(step("s1", tool="write_file", args={"path": "n.txt", "content": "x"}))
    )
    script.add(
        "plan", plan_reply(step("s2", tool="write_file", args={"path": "n.txt", "content": "3"}))
    )
    script.add("reflect", reflect_reply({"s2": True}, {"c1": "n.txt says 3"}))

    outcome = await arun("count it into n.txt", context=context, db=db_path)

    assert outcome.status == "done"
    # "x" is no number: the replan came from the check alone; one review, of "3".
    roles = [role for role, _ in script.calls]
    assert roles == ["parse_goal", "plan", "plan", "reflect"]
    assert "holds 0 numbers" in "\n".join(m.text for m in script.calls_for("plan")[1])


def test_a_list_the_goal_asks_sorted_and_without_duplicates_is_checked_for_both(
    guard: Confinement, workspace: Path
) -> None:
    """A 1.5B executor wrote the names unsorted, said they were sorted, and the reviewer
    agreed (a false "done"). The goal's own words ask for the order and no duplicates: code
    checks both, and an unsorted list fails the criterion whatever the model says."""
    (workspace / "names.txt").write_text("Zoe\nadam\nBen\nZoe\n")
    goal = (
        "Write the names from names.txt to names_sorted.txt: sorted alphabetically ignoring "
        "case, without duplicates, one per line."
    )
    lines = 'sorted-ignoring-case unique\n{"from": "names.txt", "lines": ["Ben", "Zoe", "adam"]}'
    assert output_checks(goal, False, guard) == [
        Check(kind="file_lines", path="names_sorted.txt", text=lines)
    ]
    guessed = {"kind": "file_contains", "path": "names_sorted.txt", "text": "names"}
    spec = GoalSpec.model_validate(
        {
            "objective": goal,
            "criteria": [{"text": "names_sorted.txt holds the names", "check": guessed}],
        }
    )
    criteria, _ = criteria_of(spec, goal, False, guard)
    assert [(c.text, c.check) for c in criteria] == [
        (
            "names_sorted.txt holds the names",
            Check(kind="file_lines", path="names_sorted.txt", text=lines, decides=False),
        )
    ]
    (workspace / "names_sorted.txt").write_text("Zoe\nadam\nBen\n")
    checked, failures = verify(criteria, guard)
    assert failures == [
        "c1 (names_sorted.txt holds the names): names_sorted.txt's lines are not in "
        "alphabetical order ('Zoe' before 'adam')"
    ]
    assert not checked[0].met
    # Live pass 21: in plain character order, quoted by the reviewer as met (a false "done").
    (workspace / "names_sorted.txt").write_text("Ben\nZoe\nadam\n")
    checked, failures = verify(criteria, guard)
    assert failures == [
        "c1 (names_sorted.txt holds the names): names_sorted.txt's lines are not in "
        "alphabetical order ('Zoe' before 'adam')"
    ]
    (workspace / "names_sorted.txt").write_text("adam\nBen\nZoe\n")
    checked, failures = verify(criteria, guard)
    assert failures == [] and not checked[0].met and checked[0].check_passed  # the model's call


def test_several_outputs_get_no_line_check_and_a_lone_one_gets_its_own_criterion(
    guard: Confinement,
) -> None:
    two = "Write the names sorted alphabetically to a.txt and their count to b.txt."
    assert [c.kind for c in output_checks(two, False, guard)] == ["file_exists", "file_exists"]
    lone = Check(kind="file_lines", path="team.txt", text="sorted")
    merged, _ = merge_checks([], [lone])
    assert [(c.text, c.check) for c in merged] == [
        ("team.txt is written, its lines in alphabetical order", lone)
    ]


@pytest.mark.parametrize(
    ("goal", "properties"),
    [
        (
            "Write a five-line limerick about my cat to l.md; use her name in the first line.",
            ["lines=5"],
        ),
        ("Write a 3-line haiku to h.txt", ["lines=3"]),
        ("Write the names to n.txt, one per line, in alphabetical order", ["sorted"]),
        ("Write the names to n.txt sorted alphabetically ignoring case", ["sorted-ignoring-case"]),
        ("List them in n.txt in case-insensitive alphabetical order", ["sorted-ignoring-case"]),
        ("Write the first N numbers to f.txt, one per line", []),
        ("Write top.txt, sorted by score, ties broken alphabetically", []),
        ("Write the names to n.txt sorted alphabetically by surname", []),
        ("Write a one-line summary of each file to summary.txt", []),
        ("Write a 2-line note per file to notes.txt", []),
    ],
)
def test_line_properties_come_from_the_goals_words(goal: str, properties: list[str]) -> None:
    assert line_properties(goal) == properties


def test_a_table_gets_no_line_order_check() -> None:
    """Its header (and a Markdown table's separator) is a line too."""
    goal = "Save the countries to caps.md as a Markdown table sorted alphabetically"
    assert line_properties(goal, "caps.md") == []
    assert line_properties("Write people.csv without duplicates", "people.csv") == []


@pytest.mark.parametrize(
    ("goal", "kept"),
    [
        ("Find the top customer in orders.csv and write the email to top.txt", False),
        ("In orders.csv change the amount 5 to 7", True),  # the goal edits it: an outcome
        ("Add the line 'total: 7' to orders.csv", True),  # no output is known: left as it is
    ],
)
def test_a_criterion_about_an_input_file_is_dropped_when_the_goal_names_its_outputs(
    guard: Confinement, workspace: Path, goal: str, kept: bool
) -> None:
    (workspace / "orders.csv").write_text("customer,amount\nann,5\nbo,3\n")
    claim = {
        "text": "orders.csv has 3 rows",
        "check": {"kind": "file_number", "path": "orders.csv"},
    }
    spec = GoalSpec.model_validate({"objective": goal, "criteria": [claim]})

    criteria, notes = criteria_of(spec, goal, False, guard)

    assert ("orders.csv has 3 rows" in [c.text for c in criteria]) is kept
    assert any("an input the goal does not ask to change" in n for n in notes) is not kept
    # Whatever is dropped, the goal itself stays to judge: a file merely written is not done.
    assert any(c.check is None or not c.check.decides for c in criteria)
