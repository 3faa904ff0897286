"""Where a failed program's error came from (`nodes.program_errors`), read from the tracebacks
the sandbox writes (`File "<program>"` for the program's own lines)."""

from __future__ import annotations

import pytest

from nodes.program_errors import failing_libraries, same_program, traceback_libraries

PARSER_ERROR = """Traceback (most recent call last):
  File "<program>", line 3, in <module>
    df = pd.read_csv("server.log", sep=" ", header=None)
  File "/v/lib/python3.11/site-packages/pandas/io/parsers/readers.py", line 1866, in read_csv
    return _read(filepath_or_buffer, kwds)
  File "pandas/_libs/parsers.pyx", line 4400, in pandas._libs.parsers.raise_parser_error
pandas.errors.ParserError: Error tokenizing data. C error: Expected 4 fields in line 2, saw 5
"""
UNKNOWN_ARGUMENT = """Traceback (most recent call last):
  File "<program>", line 2, in <module>
    names = pd.read_csv("names.txt", header=None, squeeze=True)
TypeError: read_csv() got an unexpected keyword argument 'squeeze'
"""
OWN_ERROR = """Traceback (most recent call last):
  File "<program>", line 2, in <module>
    rows = open("missing.csv").read()
FileNotFoundError: [Errno 2] No such file or directory: 'missing.csv'
"""
STDLIB_FRAME = """Traceback (most recent call last):
  File "<program>", line 2, in <module>
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""


@pytest.mark.parametrize(
    ("code", "error", "libraries"),
    [
        ("import pandas as pd\nx = 1\ndf = pd.read_csv('server.log')", PARSER_ERROR, ["pandas"]),
        ("import pandas as pd\nnames = pd.read_csv('names.txt')", UNKNOWN_ARGUMENT, ["pandas"]),
        ("from pandas import read_csv as rc\nn = rc('names.txt')", UNKNOWN_ARGUMENT, ["pandas"]),
        ("import pandas as pd\nrows = open('missing.csv').read()", OWN_ERROR, []),
        ("import json\ndata = json.loads('')", STDLIB_FRAME, []),  # the standard library's own
        ("import numpy as np\ndf = 1\ndf = 2", PARSER_ERROR, []),  # pandas was never imported
    ],
)
def test_the_libraries_a_failure_came_from(code: str, error: str, libraries: list[str]) -> None:
    assert failing_libraries(code, error) == libraries


def test_a_traceback_alone_names_the_packages_its_frames_are_in() -> None:
    assert traceback_libraries(PARSER_ERROR) == ["pandas"]
    assert traceback_libraries(UNKNOWN_ARGUMENT) == traceback_libraries(STDLIB_FRAME) == []


def test_programs_are_the_same_with_comments_and_layout_aside() -> None:
    assert same_program("import a\n# read it\nx = a.f( 1 )", "import a\nx = a.f(1)  # again")
    assert not same_program("x = a.f(1)", "x = a.f(2)")
    assert same_program("x = (", "x = (\n")  # code that does not parse: compared as text
