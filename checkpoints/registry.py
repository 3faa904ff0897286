"""A table of runs beside the checkpoints: goal and settings per thread, so `resume` and
`threads` know what each thread is without the caller repeating it."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.exc import OperationalError as SAOperationalError

from checkpoints.backend import create_tables, make_engine, redact
from checkpoints.saver import CheckpointStoreError

metadata = MetaData()

runs_table = Table(
    "planloop_runs",
    metadata,
    Column("thread_id", String, primary_key=True),
    Column("goal", Text, nullable=False),
    Column("settings", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class RunRecord:
    """One registered run."""

    thread_id: str
    goal: str
    settings: dict[str, object]
    created_at: float
    updated_at: float


class RunRegistry:
    """Read and write run records in the planloop database."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.name = redact(db_path)
        self.engine: Engine = make_engine(db_path)

    def setup(self) -> None:
        """Create the table if missing (idempotent)."""
        try:
            create_tables(self.engine, metadata)
        except SAOperationalError as exc:
            if self.engine.dialect.name != "postgresql":
                raise CheckpointStoreError(
                    f"{self.name} is not a usable planloop database ({exc.orig})"
                ) from exc
            raise CheckpointStoreError(f"cannot open database {self.name}: {exc.orig}") from exc
        except SADatabaseError as exc:
            raise CheckpointStoreError(
                f"{self.name} is not a usable planloop database ({exc.orig})"
            ) from exc

    def register(self, thread_id: str, goal: str, settings: dict[str, object]) -> None:
        """Record a new run, or refresh the settings of an existing one."""
        now = time.time()
        payload = json.dumps(settings, default=str)
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(runs_table.c.thread_id).where(runs_table.c.thread_id == thread_id)
            ).first()
            if existing:
                conn.execute(
                    runs_table.update()
                    .where(runs_table.c.thread_id == thread_id)
                    .values(settings=payload, updated_at=now)
                )
            else:
                conn.execute(
                    runs_table.insert().values(
                        thread_id=thread_id,
                        goal=goal,
                        settings=payload,
                        created_at=now,
                        updated_at=now,
                    )
                )

    def get(self, thread_id: str) -> RunRecord | None:
        """The record of one thread, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(runs_table).where(runs_table.c.thread_id == thread_id)
            ).first()
        return _record(row) if row else None

    def all(self) -> list[RunRecord]:
        """Every run, most recently updated first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs_table).order_by(runs_table.c.updated_at.desc()))
            return [_record(row) for row in rows]

    def delete(self, thread_id: str) -> None:
        """Forget a run (its checkpoints are deleted by the saver)."""
        with self.engine.begin() as conn:
            conn.execute(runs_table.delete().where(runs_table.c.thread_id == thread_id))

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


def _record(row: object) -> RunRecord:
    mapping = row._mapping  # type: ignore[attr-defined]
    return RunRecord(
        thread_id=mapping["thread_id"],
        goal=mapping["goal"],
        settings=json.loads(mapping["settings"]),
        created_at=mapping["created_at"],
        updated_at=mapping["updated_at"],
    )
