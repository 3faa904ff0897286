"""`python -m bench.live`: run the goal suite with real models, side by side.

Each goal runs in a fresh workspace with its fixture files; a deterministic checker reads the
workspace afterwards and decides whether it passed. The table compares the checker with each
system's own final status. See `--help` and the README's "Live evaluation" section.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import NoReturn

from bench.live.goals import GOALS, GOALS_BY_NAME, Goal
from bench.live.report import HEADER, markdown, render, row_line, rows_from_json, write_json
from bench.live.runner import Recording, Row, recording_path, run_goal
from bench.live.site import DEFAULT_PORT, serve_site
from bench.live.systems import SYSTEMS, RunSettings
from graph.cli.parser import positive

DEFAULT_SYSTEMS = "planloop,react"


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"bench.live: error: {message} (see python -m bench.live --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def build_parser() -> Parser:
    """The command line."""
    goals = ", ".join(goal.name for goal in GOALS)
    systems = "; ".join(f"{s.name}: {s.description}" for s in SYSTEMS.values())
    parser = Parser(
        prog="python -m bench.live",
        description="Run the live goal suite against an OpenAI-compatible model server and print, "
        "per goal and in total: passed (deterministic checker), the system's own status, whether "
        "they agree (false done / false failed), model calls, prompt and completion tokens, tool "
        "calls, wall-clock seconds and the CLI exit code. The API key is read from "
        "$OPENAI_API_KEY (any value for a local server).",
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        metavar="URL",
        help="OpenAI-compatible server URL (default: $OPENAI_BASE_URL)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("PLANLOOP_MODEL") or "local",
        metavar="NAME",
        help="model name sent to the server (default: $PLANLOOP_MODEL or 'local')",
    )
    parser.add_argument(
        "--goals", metavar="A,B", help=f"comma-separated goals to run (default: all: {goals})"
    )
    parser.add_argument(
        "--systems",
        metavar="A,B",
        default=DEFAULT_SYSTEMS,
        help=f"comma-separated systems (default: {DEFAULT_SYSTEMS}). {systems}",
    )
    parser.add_argument(
        "--repeat",
        type=positive(int),
        default=1,
        metavar="N",
        help="runs per goal and system (the table adds pass rates)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="PATH", help="write the whole table as JSON to this file"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="save every model request and reply of each run to DIR/<system>/<goal>.json",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="DIR",
        help="serve the replies recorded in DIR instead of calling a model server (offline)",
    )
    parser.add_argument(
        "--rerecord",
        type=Path,
        metavar="DIR",
        help="run again, against the model server, exactly the runs recorded in DIR and "
        "overwrite their recordings (e.g. tests/replays after a prompt change)",
    )
    parser.add_argument(
        "--goal-timeout",
        type=positive(float),
        metavar="SECONDS",
        default=360.0,
        help="wall-clock cap per run in seconds; the harness abandons the run and counts it as "
        "'timeout' (default 360)",
    )
    parser.add_argument(
        "--max-seconds",
        type=positive(float),
        metavar="SECONDS",
        default=270.0,
        help="planloop's own working-time budget per run (Context.max_seconds, default 270)",
    )
    parser.add_argument(
        "--request-timeout",
        type=positive(float),
        metavar="SECONDS",
        default=180.0,
        help="seconds one model request may take (Context.request_timeout, default 180)",
    )
    parser.add_argument(
        "--site-port",
        type=_port,
        metavar="PORT",
        default=DEFAULT_PORT,
        help=f"port of the local stand-in website on 127.0.0.1 (default {DEFAULT_PORT}; 0: any "
        "free port, which recorded web runs cannot replay against)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep each run's workspace and database under DIR/<system>/<goal>",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="TABLE_JSON",
        help="print a table written by --json as Markdown (for the README), then exit",
    )
    parser.add_argument("--list", action="store_true", help="list the goals and systems, then exit")
    return parser


def pick(names: str | None, known: dict[str, object], what: str, parser: Parser) -> list[str]:
    """Validate a comma-separated selection against the known names."""
    if names is None:
        return list(known)
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        parser.error(
            f"unknown {what} {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
        )
    return chosen


def list_suite() -> str:
    """The goals and systems, one per line."""
    lines = ["goals:"]
    lines += [f"  {g.name:<16} {g.kind}" for g in GOALS]
    lines += ["systems:"]
    lines += [f"  {s.name:<20} {s.description}" for s in SYSTEMS.values()]
    return "\n".join(lines)


async def run_suite(args: argparse.Namespace, goals: list[Goal], systems: list[str]) -> list[Row]:
    """Every goal with every system, `--repeat` times; prints each run as it ends."""
    settings = RunSettings(
        model=args.model,
        base_url=args.base_url,
        request_timeout=args.request_timeout,
        max_seconds=args.max_seconds,
    )
    rows: list[Row] = []
    meta = {
        "model": args.model,
        "base_url": args.base_url,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.platform()}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "goal_timeout": args.goal_timeout,
        "max_seconds": args.max_seconds,
        "request_timeout": args.request_timeout,
        "replay": str(args.replay) if args.replay else None,
    }
    print(HEADER, flush=True)
    with serve_site(args.site_port) as site:
        for repeat in range(args.repeat):
            for goal in goals:
                for name in systems:
                    replay = None
                    if (
                        args.rerecord
                        and not recording_path(args.rerecord, name, goal.name, repeat).is_file()
                    ):
                        continue
                    if args.replay:
                        path = recording_path(args.replay, name, goal.name, repeat)
                        if not path.is_file():
                            continue
                        replay = Recording.load(path)
                    keep = args.keep / name / f"{goal.name}.{repeat}" if args.keep else None
                    row = await run_goal(
                        goal,
                        SYSTEMS[name],
                        settings,
                        site_url=site.base_url,
                        wall_cap=args.goal_timeout,
                        repeat=repeat,
                        record_dir=args.record,
                        replay=replay,
                        keep_dir=keep,
                    )
                    rows.append(row)
                    print(row_line(row), flush=True)
                    for divergence in row.divergences:
                        print(f"  replay diverged at recorded call {divergence}", flush=True)
                    if args.json:
                        write_json(args.json, rows, meta)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, run the suite, print the table; exit 0 when it ran."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_suite())
        return 0
    if args.markdown:
        if not args.markdown.is_file():
            parser.error(f"--markdown {args.markdown}: no such file")
        print(markdown(rows_from_json(args.markdown)))
        return 0
    goals = [GOALS_BY_NAME[n] for n in pick(args.goals, dict(GOALS_BY_NAME), "goal", parser)]
    systems = pick(args.systems, dict(SYSTEMS), "system", parser)
    if sum(bool(flag) for flag in (args.record, args.replay, args.rerecord)) > 1:
        parser.error("--record, --replay and --rerecord exclude each other")
    for flag, directory in (("--replay", args.replay), ("--rerecord", args.rerecord)):
        if directory and not directory.is_dir():
            parser.error(f"{flag} {directory}: no such directory")
    if args.rerecord:
        recorded = {path.parent.name for path in args.rerecord.glob("*/*.json")}
        systems = [name for name in SYSTEMS if name in recorded]
        args.record = args.rerecord
    if not args.replay and not args.base_url and not os.environ.get("OPENAI_API_KEY"):
        parser.error("no model server: pass --base-url (or set OPENAI_BASE_URL or OPENAI_API_KEY)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        rows = asyncio.run(run_suite(args, goals, systems))
    except OSError as exc:  # e.g. the site's port is taken
        print(f"bench.live: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench.live: interrupted", file=sys.stderr)
        return 130
    print()
    print(render(rows, repeats=args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
