"""The `planloop` command line: `main` (the console script `graph.cli:main`), the parser
(`graph.cli.parser`), one function per command (`graph.cli.commands`), and what they use:
approvals at the terminal (`graph.cli.approvals`), live progress (`graph.cli.progress`),
`planloop memory` (`graph.cli.memory`) and `planloop tools` (`graph.cli.tools`).

Heavy imports happen inside the commands, so `planloop --help` stays fast.
Exit codes (`nodes.errors`): 0 done, 1 failed, 2 usage or bad input, 3 paused for approval,
4 budget exhausted, 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from graph.cli.parser import build_parser, given_settings
from nodes.errors import (  # the exit codes are part of the error vocabulary
    EXIT_BUDGET,
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PAUSED,
    EXIT_USAGE,
    STATUS_EXIT,
)

__all__ = [
    "EXIT_BUDGET",
    "EXIT_DONE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "STATUS_EXIT",
    "build_parser",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `planloop` console script."""
    args = build_parser().parse_args(argv)
    from graph.cli.commands import COMMANDS, classify_error

    try:
        return COMMANDS[args.command](args, given_settings(args))
    except KeyboardInterrupt:
        thread = getattr(args, "active_thread", None)
        hint = f"; continue with: planloop resume {thread}" if thread else ""
        print(f"planloop: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        message, code = classify_error(exc)
        thread = getattr(args, "active_thread", None)
        if thread and code == EXIT_FAILED:
            message += f" (progress is saved; continue with: planloop resume {thread})"
        print(f"planloop: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
