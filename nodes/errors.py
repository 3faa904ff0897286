"""planloop's one error hierarchy: every failure a user can cause or meet is a `PlanloopError`
with a one-line message and the exit code the CLI ends with (`exit_code`, by class).

    PlanloopError (1)
    ├── UsageError (2): bad flags or input, unknown thread, a layout that cannot be made safe
    │   └── ModelConfigError (2): no key, unknown model, rejected key
    ├── ModelUnavailableError (1): the model server unreachable or failing (resumable)
    ├── ModelRequestRejectedError (1): the server refused a request as invalid (HTTP 400)
    └── StructuredOutputError (1): the model never gave output of the required shape

Other packages subclass these where the failure happens (`checkpoints.saver.CheckpointStoreError`,
`checkpoints.lock.ThreadBusyError`, `tools.workspace.WorkspaceError`, ...); the CLI maps them by
type in one place (`graph.cli.commands.classify_error`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # the CLI imports this module before anything heavy (fast --help)
    from nodes.state import Budget

EXIT_DONE = 0
"""The run reached its goal."""
EXIT_FAILED = 1
"""The run failed, or planloop could not carry on (the message says whether it can resume)."""
EXIT_USAGE = 2
"""Bad command-line input: nothing was run."""
EXIT_PAUSED = 3
"""The run waits for an approval and there is no terminal to ask in."""
EXIT_BUDGET = 4
"""A budget limit stopped the run; the partial result is written."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: progress is saved."""
STATUS_EXIT = {"done": EXIT_DONE, "budget_exhausted": EXIT_BUDGET}
"""Exit code of a finished run by its status (anything else: EXIT_FAILED)."""


class PlanloopError(Exception):
    """Base class: the message is shown to the user as is, without a traceback."""

    exit_code: ClassVar[int] = EXIT_FAILED
    """What the CLI exits with when this error ends a command."""


class UsageError(PlanloopError, ValueError):
    """What the user asked for cannot be done as asked (a ValueError too, for callers that
    validate input with `except ValueError`)."""

    exit_code = EXIT_USAGE


class ModelConfigError(UsageError):
    """The model cannot be used as configured (missing key, unknown model, rejected key)."""


class ModelUnavailableError(PlanloopError):
    """The model server could not be reached or failed; the run can be resumed later."""


class ModelRequestRejectedError(PlanloopError):
    """The model server refused a request as invalid (HTTP 400), e.g. a feature it lacks."""


class StructuredOutputError(PlanloopError):
    """The model kept answering with output that does not fit the required schema."""

    def __init__(self, message: str, *, spent: Budget) -> None:
        super().__init__(message)
        self.spent = spent
