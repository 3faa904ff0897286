"""`planloop memory list|search|forget|clear`: inspect and curate long-term memory."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from checkpoints import open_store
from checkpoints.memory import Memory, MemoryBank
from graph.api import resolve_db
from graph.cli.progress import clean
from nodes.context import Context
from nodes.errors import UsageError


def _row(key: str, memory: Memory, score: float | None = None) -> str:
    when = datetime.fromtimestamp(memory.created_at).strftime("%Y-%m-%d %H:%M")
    trust = "trusted" if memory.trusted else "untrusted"
    head = f"{key}  {memory.kind:<7} {trust:<9} {when}"
    if score is not None:
        head += f"  score={score:.3f}"
    source = f" [{memory.source}]" if memory.source else ""
    return clean(f"{head}\n    {memory.text[:300]}{source}")


async def _memory(args: argparse.Namespace) -> int:
    context = Context(workspace=args.workspace, project=args.project or "")
    if args.user:
        context.memory_user = args.user
    async with open_store(resolve_db(args.db)) as store:
        bank = MemoryBank(store, context.memory_namespace(), context.memory_max_items)
        print(f"memory namespace: {'/'.join(bank.namespace)}")
        if args.action == "list":
            items = await bank.list()
            for key, memory in items:
                print(_row(key, memory))
            print(f"{len(items)} memories")
        elif args.action == "search":
            if not args.arg:
                raise UsageError("memory search needs a QUERY")
            for memory, score in await bank.recall(args.arg, args.limit):
                print(_row(memory.key, memory, score))
        elif args.action == "forget":
            if not args.arg:
                raise UsageError("memory forget needs an ID (see planloop memory list)")
            if not await bank.forget(args.arg):
                raise UsageError(f"no memory with id {args.arg!r}")
            print(f"forgot {args.arg}")
        else:
            print(f"cleared {await bank.clear()} memories")
    return 0


def cmd_memory(args: argparse.Namespace, _overrides: dict[str, object]) -> int:
    """Run one memory action."""
    return asyncio.run(_memory(args))
