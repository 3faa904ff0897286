"""Errors planloop reports to users as one clear line."""

from __future__ import annotations

from nodes.state import Budget


class PlanloopError(Exception):
    """Base class: the message is shown to the user as is, without a traceback."""


class ModelConfigError(PlanloopError):
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
