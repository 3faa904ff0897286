"""Long-term memory on a LangGraph `BaseStore`: lessons, facts with provenance, run outcomes.

The store lives where the checkpoints do: a SQLite file, or Postgres for a `postgresql://` URL.
Recall is semantic when the store has a vector index (sqlite-vec or pgvector, an embeddings
endpoint);
otherwise it ranks the namespace's memories lexically with SQLite FTS5's BM25, so memory works
offline too. Memories are deduplicated by content and bounded per namespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from langgraph.store.base import BaseStore, Item

logger = logging.getLogger(__name__)

MemoryKind = Literal["lesson", "fact", "outcome"]
SCAN_LIMIT = 1000
_WORD = re.compile(r"[A-Za-z0-9_]{2,}")


@dataclass(frozen=True)
class Memory:
    """One remembered item and where it came from."""

    kind: MemoryKind
    text: str
    trusted: bool = True
    """False for anything derived from web content: shown as data, never as instructions."""
    source: str = ""
    thread_id: str = ""
    step_id: str = ""
    created_at: float = 0.0

    @property
    def key(self) -> str:
        """Content-derived id: remembering the same thing twice keeps one copy."""
        normal = " ".join(self.text.lower().split())
        return hashlib.sha256(f"{self.kind}\x00{normal}".encode()).hexdigest()[:16]


def _memory(item: Item) -> Memory:
    value = item.value
    return Memory(
        kind=value.get("kind", "lesson"),
        text=str(value.get("text", "")),
        trusted=bool(value.get("trusted", True)),
        source=str(value.get("source", "")),
        thread_id=str(value.get("thread_id", "")),
        step_id=str(value.get("step_id", "")),
        created_at=float(value.get("created_at", 0.0)),
    )


def bm25_rank(query: str, items: list[Item], limit: int) -> list[tuple[Item, float]]:
    """Rank items by FTS5 BM25 against the query's words (an in-memory index per search)."""
    words = sorted({w.lower() for w in _WORD.findall(query)})
    if not words or not items:
        return []
    with sqlite3.connect(":memory:") as index:
        index.execute("CREATE VIRTUAL TABLE m USING fts5(text, tokenize='porter')")
        index.executemany(
            "INSERT INTO m(rowid, text) VALUES (?, ?)",
            [(n, str(item.value.get("text", ""))) for n, item in enumerate(items)],
        )
        match = " OR ".join(f'"{w}"' for w in words)
        rows = index.execute(
            "SELECT rowid, bm25(m) FROM m WHERE m MATCH ? ORDER BY bm25(m) LIMIT ?",
            (match, limit),
        ).fetchall()
    return [(items[rowid], -score) for rowid, score in rows]


class MemoryBank:
    """Memories of one namespace (user and project) in a `BaseStore`."""

    def __init__(self, store: BaseStore, namespace: tuple[str, ...], max_items: int) -> None:
        self.store = store
        self.namespace = namespace
        self.max_items = max_items

    @property
    def semantic(self) -> bool:
        """True when recall uses the store's vector index."""
        return bool(getattr(self.store, "index_config", None))

    async def remember(self, memories: Iterable[Memory]) -> list[str]:
        """Store memories (deduplicated by content); prune the oldest beyond the bound."""
        keys = []
        for memory in memories:
            stamped = memory if memory.created_at else _with_time(memory)
            await self.store.aput(self.namespace, stamped.key, asdict(stamped))
            keys.append(stamped.key)
        await self._prune()
        return keys

    async def recall(self, query: str, limit: int) -> list[tuple[Memory, float]]:
        """The memories most relevant to `query`, best first, with their scores."""
        if self.semantic:
            found = await self.store.asearch(self.namespace, query=query, limit=limit)
            return [(_memory(item), float(item.score or 0.0)) for item in found]
        items = await self.all_items()
        ranked = await asyncio.to_thread(bm25_rank, query, items, limit)
        return [(_memory(item), score) for item, score in ranked]

    async def all_items(self) -> list[Item]:
        """Every memory in the namespace, newest first."""
        items = await self.store.asearch(self.namespace, limit=SCAN_LIMIT)
        return sorted(items, key=lambda i: i.value.get("created_at", 0.0), reverse=True)

    async def list(self) -> list[tuple[str, Memory]]:
        """Every memory with its id, newest first."""
        return [(item.key, _memory(item)) for item in await self.all_items()]

    async def forget(self, key: str) -> bool:
        """Delete one memory; False when there was none with that id."""
        if await self.store.aget(self.namespace, key) is None:
            return False
        await self.store.adelete(self.namespace, key)
        return True

    async def clear(self) -> int:
        """Delete every memory of the namespace; returns how many there were."""
        items = await self.all_items()
        for item in items:
            await self.store.adelete(self.namespace, item.key)
        return len(items)

    async def _prune(self) -> None:
        items = await self.all_items()
        for item in items[self.max_items :]:
            await self.store.adelete(self.namespace, item.key)


def _with_time(memory: Memory) -> Memory:
    return Memory(**{**asdict(memory), "created_at": time.time()})


def vector_search_supported() -> bool:
    """Whether this Python's sqlite3 can load sqlite-vec (some builds disable extensions)."""
    return hasattr(sqlite3.Connection, "enable_load_extension")
