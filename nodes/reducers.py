"""Reducers for the state's channels. The batch reducers serve LangGraph delta channels: they
must be deterministic and associative, so replaying stored writes in any batching gives the
same state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langgraph.channels.delta import DeltaChannel

T = TypeVar("T")


def merge_result_batches(
    current: dict[str, T] | None, updates: Sequence[dict[str, T] | None]
) -> dict[str, T]:
    """Delta reducer for maps keyed by step id (`results`, `filled_args`): fold a batch of
    updates (associative, so replay-safe)."""
    merged = dict(current or {})
    for update in updates:
        merged.update(update or {})
    return merged


def latest(current: list[T] | None, updates: Sequence[list[T] | None]) -> list[T]:
    """Delta reducer for `plan`: the newest plan replaces the old one."""
    chosen = [u for u in updates if u is not None]
    return list(chosen[-1]) if chosen else list(current or [])


def concat_batches(current: list[T] | None, updates: Sequence[list[T] | None]) -> list[T]:
    """Delta reducer for append-only lists."""
    return [*(current or []), *(item for update in updates for item in (update or []))]


def add_count_batches(
    current: dict[str, int] | None, updates: Sequence[dict[str, int] | None]
) -> dict[str, int]:
    """Delta reducer for counters."""
    merged = dict(current or {})
    for update in updates:
        merged = add_counts(merged, update)
    return merged


def add_counts(current: dict[str, int] | None, update: dict[str, int] | None) -> dict[str, int]:
    """Reducer: add per-key counters (used to spot repeated identical actions)."""
    merged = dict(current or {})
    for key, count in (update or {}).items():
        merged[key] = merged.get(key, 0) + count
    return merged


class TypedDeltaChannel(DeltaChannel[Any]):
    """A `DeltaChannel` that reports its declared type (`list[Step]`, not `list`).

    LangGraph's `DeltaChannel` keeps only the bare container type, so the state schema that
    `langgraph dev` serves (built from each channel's `UpdateType`) shows `plan` as a list of
    anything and `results` as a bare object. Storage and replay are unchanged.
    """

    __slots__ = ("declared",)

    def __init__(
        self,
        reducer: Callable[[Any, Sequence[Any]], Any],
        typ: Any = None,
        *,
        snapshot_frequency: int = 100,
    ) -> None:
        super().__init__(reducer, typ, snapshot_frequency=snapshot_frequency)
        self.declared: Any = self.typ if typ is None else typ

    @property
    def ValueType(self) -> Any:  # noqa: N802 (LangGraph's name)
        """The declared type, for the schema LangGraph derives."""
        return self.declared

    @property
    def UpdateType(self) -> Any:  # noqa: N802 (LangGraph's name)
        """The declared type, for the schema LangGraph derives."""
        return self.declared

    def copy(self) -> TypedDeltaChannel:
        """A copy that keeps the declared type."""
        new = super().copy()
        new.declared = self.declared
        return new

    def from_checkpoint(self, checkpoint: Any) -> TypedDeltaChannel:
        """The channel restored from a checkpoint, keeping the declared type."""
        new = super().from_checkpoint(checkpoint)
        new.declared = self.declared
        return new
