"""One-line programs that Python cannot parse run as the lines they mean (tools.code_layout);
a program that parses is never changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tools.code_layout import laid_out

# Real `run_python` code from a live run of Qwen2.5-Coder-1.5B (word_count, sort_names), as the
# tool received it: the JSON's "\n" inside a string arrives as a real line break.
WORD_COUNT = (
    "import re; with open('essay.txt', 'r') as f: words = re.findall(r'\\S+', f.read()); "
    "print(len(words))"
)
SORT_NAMES = (
    "names = sorted(set(open('names.txt').read().split()), key=lambda x: x.lower()); "
    "with open('names_sorted.txt', 'w') as f: for name in names: f.write(name + '\n')"
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            WORD_COUNT,
            "import re\nwith open('essay.txt', 'r') as f:\n"
            "    words = re.findall(r'\\S+', f.read())\n    print(len(words))",
        ),
        (
            SORT_NAMES,
            "names = sorted(set(open('names.txt').read().split()), key=lambda x: x.lower())\n"
            "with open('names_sorted.txt', 'w') as f:\n    for name in names:\n"
            "        f.write(name + '\\n')",
        ),
        (
            "import os\nfor f in os.listdir('.'): if f.endswith('.txt'): print(f)",
            "import os\nfor f in os.listdir('.'):\n    if f.endswith('.txt'):\n        print(f)",
        ),
    ],
)
def test_a_compound_statement_after_a_semicolon_gets_its_own_lines(
    code: str, expected: str
) -> None:
    assert laid_out(code) == expected


def test_a_program_that_returns_its_result_runs_as_a_function_and_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """three_parts, 1.5B: `...; return max(numbers)` (and `return word[::-1]`) at the top."""
    code = (
        "import re; with open('numbers.txt', 'r') as f: numbers = "
        "[int(line.strip()) for line in f.readlines()]; return max(numbers)"
    )
    (tmp_path / "numbers.txt").write_text("3\n9\n4\n")
    monkeypatch.chdir(tmp_path)
    program = laid_out(code)
    exec(compile(program, "<program>", "exec"), {})
    assert capsys.readouterr().out == "9\n"


@pytest.mark.parametrize(
    "code",
    [
        "x = 1; y = 2\nprint(x + y)\n",  # parses: never touched
        "for i in range(3): print(i); print('in the loop')",
        "print('a; with b: c')",  # inside a string
        "f = lambda x: x; print(f(1))",
        "print(undefined_name)",  # a runtime error is the program's own
        "with open('a') as f: print(f.read()",  # no layout makes it parse
    ],
)
def test_code_that_parses_or_cannot_be_mended_is_left_as_it_is(code: str) -> None:
    assert laid_out(code) == code


async def test_a_one_line_program_runs_in_the_sandbox_as_the_lines_it_means(
    script: Script, context: Context, workspace: Path, db_path: Path
) -> None:
    from graph.api import arun

    context.approval = "none"
    (workspace / "names.txt").write_text("Zoe\nadam\nBen\nZoe\n")
    script.add("parse_goal", goal_reply("names_sorted.txt holds the names, sorted"))
    script.add("plan", plan_reply(step("s1", tool="run_python", args={"code": SORT_NAMES})))
    script.defaults["reflect"] = reflect_reply({"s1": True}, {"c1": "it lists adam, Ben, Zoe"})
    script.defaults["finish"] = "Sorted."

    outcome = await arun("sort the names", context=context, db=db_path)

    assert outcome.results["s1"].status == "done", outcome.results["s1"].output
    assert (workspace / "names_sorted.txt").read_text() == "adam\nBen\nZoe\n"
