"""One seam for everything planloop persists.

`checkpoints.open_storage(db)` makes the SQLite-or-PostgreSQL choice, once; callers then use
the `Storage` it returns for the checkpointer, the memory store, the per-thread lock, the run
registry, the side-effect journal, checkpoint history and vacuuming. One module per
implementation: `checkpoints.sqlite` and `checkpoints.postgres`. graph/ holds no SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from checkpoints.backend import redact, state_folder
from checkpoints.journal import Journal
from checkpoints.registry import RunRegistry


class Storage(ABC):
    """planloop's persistence on one database."""

    def __init__(self, target: Path | str) -> None:
        self.target = target
        """The database: a SQLite file, or a `postgresql://` URL."""

    @property
    def name(self) -> str:
        """The database for messages (a URL without its password)."""
        return redact(self.target)

    @property
    def state_folder(self) -> Path:
        """planloop's local folder for this database (see `checkpoints.backend.state_folder`)."""
        return state_folder(self.target)

    def registry(self) -> RunRegistry:
        """The run registry, set up (one SQLAlchemy implementation serves both databases)."""
        registry = RunRegistry(self.target)
        try:
            registry.setup()
        except BaseException:
            registry.close()
            raise
        return registry

    def journal(self) -> Journal:
        """The side-effect journal (one SQLAlchemy implementation serves both databases)."""
        return Journal(self.target)

    @abstractmethod
    def checkpointer(self) -> AbstractAsyncContextManager[BaseCheckpointSaver[str]]:
        """LangGraph's checkpointer (strict serializer), tables created if needed."""

    @abstractmethod
    def store(
        self, index: dict[str, object] | None = None
    ) -> AbstractAsyncContextManager[BaseStore]:
        """LangGraph's store for long-term memory: a vector index when `index` is set and the
        database can hold one, lexical recall otherwise."""

    @abstractmethod
    def thread_lock(self, thread_id: str) -> AbstractContextManager[None]:
        """The thread's one-writer lock for the block, released when its holder dies; raises
        `ThreadBusyError` at once when another process holds it."""

    @abstractmethod
    async def checkpoint_ids(self, saver: BaseCheckpointSaver[str], thread_id: str) -> list[str]:
        """The thread's root checkpoint ids, newest first, read without deserializing any
        (listing through the saver would stop at the first unreadable one)."""

    @abstractmethod
    async def vacuum(self) -> None:
        """Reclaim the space of deleted threads."""
