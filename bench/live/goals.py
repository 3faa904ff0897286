"""The goal suite: goals a user would give, each with fixture files, a deterministic checker
that reads the workspace (never a model) and a hand-made correct solution (for the tests).

Every checker fails on the untouched fixtures and on constant answers (tests/test_live_goals.py).
Goals that read the web use the stand-in site of `bench.live.site` (`{site}` in the prompt).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.live.site import SHOP_ITEMS, TEAM


@dataclass(frozen=True)
class Verdict:
    """What a checker found."""

    passed: bool
    detail: str


@dataclass(frozen=True)
class Limits:
    """The budget a system gets for one goal (the same for every system)."""

    max_steps: int = 8
    """planloop: most plan steps executed."""
    max_tool_calls: int = 12
    """Most tool calls; a ReAct agent gets this many tool turns."""


@dataclass(frozen=True)
class Goal:
    """One task of the suite."""

    name: str
    kind: str
    """What the goal exercises (file writing, CSV/JSON data, web, replan, ...)."""
    prompt: str
    """The goal as a user types it; `{site}` is the stand-in site's base URL."""
    fixtures: Mapping[str, str]
    """Files (relative path -> text) the workspace starts with."""
    check: Callable[[Path], Verdict]
    solve: Callable[[Path], None]
    """Writes a correct result into a workspace holding the fixtures (for the tests)."""
    limits: Limits = field(default_factory=Limits)
    uses_site: bool = False

    def text(self, site_url: str) -> str:
        """The prompt with the site address filled in."""
        return self.prompt.replace("{site}", site_url)

    def create_fixtures(self, workspace: Path) -> None:
        """Write the fixture files into a fresh workspace."""
        workspace.mkdir(parents=True, exist_ok=True)
        for name, content in self.fixtures.items():
            path = workspace / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")


# checking helpers -------------------------------------------------------------------------------


def read(workspace: Path, name: str) -> str | None:
    """The text of a workspace file, or None when it is missing or unreadable."""
    try:
        return (workspace / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def lines_of(text: str) -> list[str]:
    """Non-empty stripped lines."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def single_number(text: str) -> float | None:
    """The only number in `text` (thousands separators allowed), else None."""
    found = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    if len(found) != 1:
        return None
    return float(found[0].replace(",", ""))


def expect_number(workspace: Path, name: str, expected: float, tolerance: float = 1e-6) -> Verdict:
    """The file holds exactly one number, equal to `expected`."""
    text = read(workspace, name)
    if text is None:
        return Verdict(False, f"{name} is missing")
    value = single_number(text)
    if value is None:
        return Verdict(False, f"{name} does not hold exactly one number: {text[:60]!r}")
    if abs(value - expected) > tolerance:
        return Verdict(False, f"{name} holds {value:g}, expected {expected:g}")
    return Verdict(True, f"{name} = {value:g}")


def expect_lines(workspace: Path, name: str, expected: list[str]) -> Verdict:
    """The file's non-empty lines (stripped, list markers removed) are exactly `expected`."""
    text = read(workspace, name)
    if text is None:
        return Verdict(False, f"{name} is missing")
    got = [re.sub(r"^(?:[-*]|\d+[.)])\s+", "", line) for line in lines_of(text)]
    if got != expected:
        return Verdict(False, f"{name} has {got[:6]!r}..., expected {expected[:6]!r}...")
    return Verdict(True, f"{name} has the {len(expected)} expected lines")


def all_of(*verdicts: Verdict) -> Verdict:
    """Passed when every part passed; the detail lists the parts."""
    return Verdict(all(v.passed for v in verdicts), "; ".join(v.detail for v in verdicts))


def write(workspace: Path, name: str, text: str) -> None:
    """Used by the hand-made solutions."""
    (workspace / name).write_text(text, encoding="utf-8")


# fixtures ---------------------------------------------------------------------------------------

ESSAY = (
    "Remote work changed how small teams plan their week. Instead of long meetings, many\n"
    "teams now write short plans, share them early and review them in the afternoon.\n"
    "The habit is simple: state the goal, list the steps, and say what done looks like.\n"
    "Teams that do this report fewer surprises and calmer Fridays, although some people\n"
    "miss the chatter of the office kitchen and the accidental ideas it produced.\n"
)
NAMES = "Zoe\nadam\nMiriam\nBen\nZoe\nCarla\nBen\nDavid\n"
CONFIG = "[server]\nhost = 0.0.0.0\nport = 8080\nworkers = 4\n\n[log]\nlevel = info\n"
SALES = (
    "region,amount\nnorth,120.5\nsouth,80\nnorth,99.5\neast,40.25\nsouth,20\neast,9.75\nwest,300\n"
)
USERS = [("Ana", 34), ("Bo", 17), ("Chen", 18), ("Dita", 12), ("Emil", 45), ("Fay", 16)]
ADULTS = [name for name, age in USERS if age >= 18]
POEM = "The fog comes\non little cat feet.\n\nIt sits looking\nover harbor and city\n"
NUMBERS = "17\n4\n93\n-5\n88\n41\n"
ORDERS = (
    "order_id,customer_id,total\n1,c3,40\n2,c1,25\n3,c2,70\n4,c3,55\n5,c1,10\n6,c2,15\n7,c4,60\n"
)
CUSTOMERS = [
    {"id": "c1", "name": "Iris", "email": "iris@example.org"},
    {"id": "c2", "name": "Omar", "email": "omar@example.org"},
    {"id": "c3", "name": "Lena", "email": "lena@example.org"},
    {"id": "c4", "name": "Paul", "email": "paul@example.org"},
]
MEASUREMENTS = (
    "# exported from the lab logger\n"
    "sensor;value;unit\nA;12,5;C\nB;13,25;C\nA;11,75;C\nC;14,0;C\nB;12,1;C\n"
)
LOG = (
    "2024-05-01 10:00:01 INFO start\n2024-05-01 10:00:05 ERROR disk full\n"
    "2024-05-01 10:01:00 WARN slow request\n2024-05-01 10:02:10 ERROR timeout talking to db\n"
    "2024-05-01 10:03:00 INFO request ok\n2024-05-01 10:04:44 ERROR disk full\n"
    "2024-05-01 10:05:00 INFO request ok\n2024-05-01 10:06:30 DEBUG cache miss (no ERROR)\n"
)
INVENTORY = "item,qty,location\nbolts,120,A1\nnuts,75,A2\nwashers,300,B1\nscrews,42,B2\n"


def _ordered_unique_sorted(text: str) -> list[str]:
    return sorted(set(lines_of(text)), key=str.lower)


def _primes_below(limit: int) -> list[int]:
    sieve = [True] * limit
    sieve[:2] = [False, False]
    for n in range(2, int(limit**0.5) + 1):
        if sieve[n]:
            sieve[n * n :: n] = [False] * len(sieve[n * n :: n])
    return [n for n, prime in enumerate(sieve) if prime]


def _fib(count: int) -> list[int]:
    values = [0, 1]
    while len(values) < count:
        values.append(values[-1] + values[-2])
    return values[:count]


def _region_totals() -> dict[str, float]:
    totals: dict[str, float] = {}
    for row in csv.DictReader(io.StringIO(SALES)):
        totals[row["region"]] = totals.get(row["region"], 0.0) + float(row["amount"])
    return totals


def _top_customer_email() -> str:
    totals: dict[str, float] = {}
    for row in csv.DictReader(io.StringIO(ORDERS)):
        totals[row["customer_id"]] = totals.get(row["customer_id"], 0.0) + float(row["total"])
    best = max(totals, key=lambda k: totals[k])
    return next(c["email"] for c in CUSTOMERS if c["id"] == best)


def _measurement_average() -> float:
    rows = [line.split(";") for line in MEASUREMENTS.splitlines()[2:]]
    values = [float(value.replace(",", ".")) for _sensor, value, _unit in rows]
    return round(sum(values) / len(values), 2)


def _error_lines() -> int:
    return sum(1 for line in LOG.splitlines() if line.split(" ")[2] == "ERROR")


# checkers -------------------------------------------------------------------------------------


def check_limerick(ws: Path) -> Verdict:
    text = read(ws, "limerick.md")
    if text is None:
        return Verdict(False, "limerick.md is missing")
    verse = [line for line in lines_of(text) if not line.startswith("#")]
    if len(verse) != 5:
        return Verdict(False, f"limerick.md has {len(verse)} verse lines, expected 5")
    if "biscuit" not in verse[0].lower():
        return Verdict(False, "the cat's name is not in the first line")
    return Verdict(True, "five lines, the name in the first")


def check_checklist(ws: Path) -> Verdict:
    text = read(ws, "todo.md")
    if text is None:
        return Verdict(False, "todo.md is missing")
    items = [line for line in lines_of(text) if line.startswith("- [ ]")]
    wanted = lines_of(FIXTURE_TASKS)
    got = [item[len("- [ ]") :].strip() for item in items]
    if got != wanted:
        return Verdict(False, f"checklist items {got!r}, expected {wanted!r}")
    return Verdict(True, f"{len(got)} checklist items in order")


def check_config(ws: Path) -> Verdict:
    text = read(ws, "config.ini")
    if text is None:
        return Verdict(False, "config.ini is missing")
    expected = CONFIG.replace("port = 8080", "port = 9090")
    if [line.rstrip() for line in text.strip().splitlines()] != expected.strip().splitlines():
        return Verdict(False, f"config.ini is {text[:80]!r}...")
    return Verdict(True, "only the port changed")


def check_totals(ws: Path) -> Verdict:
    text = read(ws, "totals.json")
    if text is None:
        return Verdict(False, "totals.json is missing")
    try:
        data = json.loads(text)
    except ValueError:
        return Verdict(False, "totals.json is not JSON")
    expected = _region_totals()
    if not isinstance(data, dict) or set(data) != set(expected):
        return Verdict(False, f"totals.json keys are not {sorted(expected)}")
    for region, total in expected.items():
        value = data[region]
        if not isinstance(value, int | float) or abs(value - total) > 1e-6:
            return Verdict(False, f"{region}: {value!r}, expected {total:g}")
    return Verdict(True, "every region total right")


def check_inventory_table(ws: Path) -> Verdict:
    text = read(ws, "inventory.md")
    if text is None:
        return Verdict(False, "inventory.md is missing")
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in lines_of(text)
        if line.startswith("|")
    ]
    rows = [r for r in rows if not all(set(c) <= set("-: ") for c in r)]
    expected = list(csv.reader(io.StringIO(INVENTORY)))
    if [[c.lower() for c in r] for r in rows] != [[c.lower() for c in r] for r in expected]:
        return Verdict(False, f"table rows {rows[:3]!r}..., expected {expected[:3]!r}...")
    return Verdict(True, f"table with {len(expected) - 1} rows")


def check_partial(ws: Path) -> Verdict:
    done = [n for n in range(1, 7) if expect_number(ws, f"part{n}.txt", n * n).passed]
    return Verdict(len(done) == 6, f"{len(done)}/6 part files right")


def check_multi(ws: Path) -> Verdict:
    return all_of(
        expect_number(ws, "lines.txt", len(lines_of(POEM))),
        expect_number(ws, "max.txt", max(int(n) for n in lines_of(NUMBERS))),
        expect_lines(ws, "reversed.txt", [FIXTURE_WORD.strip()[::-1]]),
    )


def check_email(ws: Path) -> Verdict:
    text = read(ws, "top_email.txt")
    if text is None:
        return Verdict(False, "top_email.txt is missing")
    emails = re.findall(r"[\w.+-]+@[\w.-]+\w", text)
    expected = _top_customer_email()
    if emails != [expected]:
        return Verdict(False, f"top_email.txt holds {emails!r}, expected {expected}")
    return Verdict(True, expected)


FIXTURE_TASKS = "buy milk\ncall the plumber\nrenew passport\nbook dentist\n"
FIXTURE_WORD = "planloop\n"


def _solve_inventory(ws: Path) -> None:
    rows = list(csv.reader(io.StringIO(INVENTORY)))
    table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    table += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    write(ws, "inventory.md", "\n".join(table) + "\n")


def _solve_multi(ws: Path) -> None:
    write(ws, "lines.txt", f"{len(lines_of(POEM))}\n")
    write(ws, "max.txt", f"{max(int(n) for n in lines_of(NUMBERS))}\n")
    write(ws, "reversed.txt", FIXTURE_WORD.strip()[::-1] + "\n")


def _solve_partial(ws: Path) -> None:
    for n in range(1, 7):
        write(ws, f"part{n}.txt", f"{n * n}\n")


def _berlin() -> list[str]:
    return sorted(name for name, office in TEAM if office == "Berlin")


GOALS: list[Goal] = [
    Goal(
        "limerick",
        "file writing",
        "Write a five-line limerick about my cat to limerick.md. Her name is in cat_name.txt; "
        "use her name in the first line.",
        {"cat_name.txt": "Biscuit\n"},
        check_limerick,
        lambda ws: write(
            ws,
            "limerick.md",
            "There once was a cat named Biscuit\nWho found a warm box and would risk it\n"
            "She curled in a ball\nIgnored us all\nAnd purred like a small copper whisk, it\n",
        ),
    ),
    Goal(
        "checklist",
        "file writing",
        "Turn the tasks in tasks.txt into a Markdown checklist in todo.md: one '- [ ] task' line "
        "per task, in the same order.",
        {"tasks.txt": FIXTURE_TASKS},
        check_checklist,
        lambda ws: write(ws, "todo.md", "".join(f"- [ ] {t}\n" for t in lines_of(FIXTURE_TASKS))),
    ),
    Goal(
        "word_count",
        "reading text",
        "Count the words in essay.txt (words are separated by whitespace) and write just the "
        "number to word_count.txt.",
        {"essay.txt": ESSAY},
        lambda ws: expect_number(ws, "word_count.txt", len(ESSAY.split())),
        lambda ws: write(ws, "word_count.txt", f"{len(ESSAY.split())}\n"),
    ),
    Goal(
        "sort_names",
        "transforming text",
        "Write the names from names.txt to names_sorted.txt: sorted alphabetically ignoring "
        "case, without duplicates, one per line.",
        {"names.txt": NAMES},
        lambda ws: expect_lines(ws, "names_sorted.txt", _ordered_unique_sorted(NAMES)),
        lambda ws: write(ws, "names_sorted.txt", "\n".join(_ordered_unique_sorted(NAMES)) + "\n"),
    ),
    Goal(
        "config_port",
        "editing a file",
        "In config.ini change the server port from 8080 to 9090. Leave every other line as it is.",
        {"config.ini": CONFIG},
        check_config,
        lambda ws: write(ws, "config.ini", CONFIG.replace("8080", "9090")),
    ),
    Goal(
        "csv_totals",
        "CSV data",
        "sales.csv has the columns region and amount. Write the total amount per region to "
        'totals.json as one JSON object, e.g. {"north": 1.5}.',
        {"sales.csv": SALES},
        check_totals,
        lambda ws: write(ws, "totals.json", json.dumps(_region_totals())),
    ),
    Goal(
        "json_adults",
        "JSON data",
        "users.json is a list of users with a name and an age. Write the names of the users "
        "aged 18 or over to adults.txt, one per line, in the order they appear in the file.",
        {"users.json": json.dumps([{"name": n, "age": a} for n, a in USERS], indent=2)},
        lambda ws: expect_lines(ws, "adults.txt", ADULTS),
        lambda ws: write(ws, "adults.txt", "".join(f"{name}\n" for name in ADULTS)),
    ),
    Goal(
        "inventory_table",
        "CSV to Markdown",
        "Convert inventory.csv into a Markdown table in inventory.md, with the CSV header as the "
        "table header and one table row per CSV row.",
        {"inventory.csv": INVENTORY},
        check_inventory_table,
        _solve_inventory,
    ),
    Goal(
        "prime_sum",
        "computing with Python",
        "Compute the sum of all prime numbers below the number in limit.txt and write the sum "
        "to prime_sum.txt.",
        {"limit.txt": "5000\n"},
        lambda ws: expect_number(ws, "prime_sum.txt", sum(_primes_below(5000))),
        lambda ws: write(ws, "prime_sum.txt", f"{sum(_primes_below(5000))}\n"),
    ),
    Goal(
        "fibonacci",
        "computing with Python",
        "Write the first N Fibonacci numbers (0, 1, 1, 2, 3, ...) to fib.txt, one per line, "
        "where N is the number in count.txt.",
        {"count.txt": "25\n"},
        lambda ws: expect_lines(ws, "fib.txt", [str(v) for v in _fib(25)]),
        lambda ws: write(ws, "fib.txt", "".join(f"{v}\n" for v in _fib(25))),
    ),
    Goal(
        "three_parts",
        "several independent parts",
        "Do three things: write the number of non-empty lines of poem.txt to lines.txt; write "
        "the largest number in numbers.txt to max.txt; write the word in word.txt spelled "
        "backwards to reversed.txt.",
        {"poem.txt": POEM, "numbers.txt": NUMBERS, "word.txt": FIXTURE_WORD},
        check_multi,
        _solve_multi,
    ),
    Goal(
        "top_customer",
        "earlier result feeds a later step",
        "Find the customer with the highest total of order amounts in orders.csv, then look up "
        "that customer's email address in customers.json and write it to top_email.txt.",
        {"orders.csv": ORDERS, "customers.json": json.dumps(CUSTOMERS, indent=2)},
        check_email,
        lambda ws: write(ws, "top_email.txt", _top_customer_email() + "\n"),
    ),
    Goal(
        "lab_average",
        "first attempt likely fails (replan)",
        "Compute the average of the value column in measurements.csv, rounded to 2 decimals, "
        "and write it to average.txt.",
        {"measurements.csv": MEASUREMENTS},
        lambda ws: expect_number(ws, "average.txt", _measurement_average(), tolerance=0.005),
        lambda ws: write(ws, "average.txt", f"{_measurement_average()}\n"),
    ),
    Goal(
        "error_count",
        "reading a log",
        "How many lines in server.log have the level ERROR? Write just the number to errors.txt.",
        {"server.log": LOG},
        lambda ws: expect_number(ws, "errors.txt", _error_lines()),
        lambda ws: write(ws, "errors.txt", f"{_error_lines()}\n"),
    ),
    Goal(
        "six_squares",
        "only partly doable within a small budget",
        "Create six files part1.txt to part6.txt; each holds the square of its number (part3.txt "
        "holds 9). Follow the steps in order in plan.txt.",
        {"plan.txt": "".join(f"{n}. write part{n}.txt\n" for n in range(1, 7))},
        check_partial,
        _solve_partial,
        limits=Limits(max_steps=3, max_tool_calls=3),
    ),
    Goal(
        "web_price",
        "web page (local stand-in site)",
        "The product named in wanted.txt is listed in the shop at {site}/shop.html. Write its "
        "price (just the number) to price.txt.",
        {"wanted.txt": "Blue Widget\n"},
        lambda ws: expect_number(ws, "price.txt", float(SHOP_ITEMS["Blue Widget"])),
        lambda ws: write(ws, "price.txt", SHOP_ITEMS["Blue Widget"] + "\n"),
        uses_site=True,
    ),
    Goal(
        "web_team",
        "web page (local stand-in site)",
        "The page {site}/team.html lists our team. Write the names of everyone in the office "
        "named in office.txt to office_team.txt, sorted alphabetically, one per line.",
        {"office.txt": "Berlin\n"},
        lambda ws: expect_lines(ws, "office_team.txt", _berlin()),
        lambda ws: write(ws, "office_team.txt", "\n".join(_berlin()) + "\n"),
        uses_site=True,
    ),
]
"""The suite, in the order it runs."""

GOALS_BY_NAME: dict[str, Goal] = {goal.name: goal for goal in GOALS}
