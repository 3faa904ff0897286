"""The CLI's setting flags come from `Context`, declared once (a field with a `Flag`)."""

from __future__ import annotations

import argparse
from typing import Literal, get_args, get_origin, get_type_hints

from graph.cli import build_parser, given_settings
from nodes.context import Context, command_line_settings


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen: argparse.ArgumentParser = sub.choices[name]
    return chosen


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def test_every_declared_flag_is_on_run_and_the_resumable_ones_on_resume() -> None:
    hints = get_type_hints(Context)
    run, resume = _options(_subparser("run")), _options(_subparser("resume"))
    declared = command_line_settings()
    assert len(declared) >= 14
    for setting, flag in declared:
        action = run[flag.name]
        assert action.dest == setting.name
        assert str(setting.metadata["description"]).rstrip(".") in (action.help or "")
        if get_origin(hints[setting.name]) is Literal:
            assert tuple(action.choices or ()) == get_args(hints[setting.name])
        assert (flag.name in resume) == flag.on_resume


def test_only_the_flags_given_become_settings() -> None:
    args = build_parser().parse_args(
        ["run", "a goal", "--parallel", "3", "--no-memory", "--approve", "none", "--max-cost", "2"]
    )
    assert given_settings(args) == {
        "max_parallel_steps": 3,
        "memory": False,
        "approval": "none",
        "max_cost_usd": 2.0,
    }
    context = Context(**given_settings(args))  # type: ignore[arg-type]
    assert context.max_steps == Context().max_steps  # not given: the field's default
    assert given_settings(build_parser().parse_args(["resume", "t1"])) == {}
