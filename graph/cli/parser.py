"""The `planloop` argument parser: every subcommand and flag (setting flags come from
`nodes.context.Context`, see `_add_settings`). Imports nothing heavy, so `--help` stays fast."""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NoReturn,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from nodes.context import Context, command_line_settings
from nodes.errors import EXIT_USAGE

if TYPE_CHECKING:
    from typing import TypeAlias

    Subcommands: TypeAlias = argparse._SubParsersAction["Parser"]


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        """One line naming the command's --help, exit 2."""
        self.exit(
            EXIT_USAGE,
            f"planloop: error: {message} (see planloop {self.prog.split()[-1]} --help)\n",
        )


def positive(kind: type[int] | type[float]):  # type: ignore[no-untyped-def]
    """An argparse type: a number of `kind` above zero, with a one-line error otherwise."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        help="checkpoint database: a SQLite file or a postgresql:// URL "
        "(default: $PLANLOOP_DB, else $PLANLOOP_HOME/planloop.db)",
    )


def _value_type(annotation: object) -> object:
    """The one type of a setting (`int | None` -> int)."""
    options = [arg for arg in get_args(annotation) if arg is not type(None)]
    return options[0] if get_origin(annotation) in (UnionType, Union) and options else annotation


def _add_settings(parser: argparse.ArgumentParser, *, resuming: bool) -> None:
    """One flag per `Context` setting that declares one (see `nodes.context.Flag`): help from
    the field's description, choices from its Literal type, numbers checked positive. Every
    default is None, so only what is given overrides the defaults (or a thread's settings)."""
    hints = get_type_hints(Context)
    for setting, flag in command_line_settings():
        if resuming and not flag.on_resume:
            continue
        kind = _value_type(hints[setting.name])
        text = str(setting.metadata["description"])
        shown = setting.default not in (MISSING, None) and kind is not bool
        if shown and "default" not in text:
            text = f"{text.rstrip('.')} (default: {setting.default})"
        options: dict[str, Any] = {"dest": setting.name, "default": None, "help": text}
        if kind is bool:
            options.update(action="store_const", const=not flag.negates)
        elif get_origin(kind) is Literal:
            options.update(choices=get_args(kind))
        elif kind in (int, float):
            options.update(type=positive(kind), metavar=flag.metavar or "N")
        else:
            options.update(metavar=flag.metavar)
        parser.add_argument(flag.name, **options)


def given_settings(args: argparse.Namespace) -> dict[str, object]:
    """The settings given explicitly on the command line (they win over stored and defaults)."""
    return {
        setting.name: getattr(args, setting.name)
        for setting, _ in command_line_settings()
        if getattr(args, setting.name, None) is not None
    }


def _add_tools_command(sub: Subcommands) -> None:
    tools = sub.add_parser(
        "tools", help="list every tool with its source, risk class and availability"
    )
    tools.add_argument("--mcp", metavar="FILE", help="also list this MCP config's tools")
    tools.add_argument("--python", metavar="PATH", help="describe this interpreter for run_python")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="print only the final result")


def _add_run_and_resume(sub: Subcommands) -> None:
    run = sub.add_parser("run", help="run a goal to its end")
    run.add_argument("goal", help="the goal, in plain words")
    _add_settings(run, resuming=False)
    run.add_argument("--thread-id", help="id for the new thread (default: random)")
    _add_quiet(run)
    _add_common(run)

    resume = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    resume.add_argument("thread", help="thread id")
    resume.add_argument(
        "--from",
        dest="from_checkpoint",
        metavar="CHECKPOINT",
        help="fork from this earlier checkpoint (see planloop show THREAD --history)",
    )
    _add_settings(resume, resuming=True)
    _add_quiet(resume)
    _add_common(resume)


def _add_answers(sub: Subcommands) -> None:
    for name, text in (
        ("approve", "approve (or edit) what a paused run waits for"),
        ("reject", "reject what a paused run waits for"),
    ):
        answer = sub.add_parser(name, help=text)
        answer.add_argument("thread", help="thread id")
        answer.add_argument("--step", help="answer only this step's approval")
        if name == "approve":
            answer.add_argument("--edit", metavar="JSON", help="run with these args (or plan)")
        else:
            answer.add_argument("--feedback", default="", help="why, shown to the planner")
        _add_common(answer)
        _add_quiet(answer)


def _add_admin(sub: Subcommands) -> None:
    memory = sub.add_parser("memory", help="list, search, forget or clear long-term memories")
    memory.add_argument("action", choices=("list", "search", "forget", "clear"))
    memory.add_argument("arg", nargs="?", help="QUERY for search, ID for forget")
    memory.add_argument("--workspace", default=".", help="project whose memories (default: .)")
    memory.add_argument("--project", help="project name (default: the workspace's name)")
    memory.add_argument("--user", help="user name (default: $USER)")
    memory.add_argument("--limit", type=positive(int), default=10, help="results for search")
    _add_common(memory)

    threads = sub.add_parser("threads", help="list runs")
    threads.add_argument(
        "--prune", type=positive(float), metavar="DAYS", help="delete runs idle for DAYS, vacuum"
    )
    _add_common(threads)

    _add_tools_command(sub)
    show = sub.add_parser("show", help="show one run")
    show.add_argument("thread", help="thread id")
    show.add_argument("--history", action="store_true", help="list its checkpoints")
    _add_common(show)


def build_parser() -> Parser:
    """The argument parser for every subcommand."""
    parser = Parser(prog="planloop", description="Turn a goal into a finished result.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_run_and_resume(sub)
    _add_answers(sub)
    _add_admin(sub)
    return parser
