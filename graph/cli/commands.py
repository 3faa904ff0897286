"""What each `planloop` subcommand does (imported only after arguments are parsed)."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Callable

from graph.api import load_context, prepare_run
from graph.cli.approvals import ask, build_answer, describe, select
from graph.cli.interrupt import run_interruptibly
from graph.cli.memory import cmd_memory
from graph.cli.progress import ModelStatus, ProgressPrinter, clean
from graph.cli.tools import cmd_tools
from graph.drive import drive
from graph.outcome import RunOutcome, get_record
from graph.threads import (
    list_threads,
    prune_threads,
    thread_history,
    thread_outcome,
    thread_state,
)
from nodes.budget import summary
from nodes.context import Context
from nodes.errors import (
    EXIT_DONE,
    EXIT_FAILED,
    EXIT_PAUSED,
    STATUS_EXIT,
    PlanloopError,
    UsageError,
)
from nodes.render import step_line
from nodes.state import Criterion, Step, StepResult

Command = Callable[[argparse.Namespace, dict[str, object]], int]


def classify_error(exc: BaseException) -> tuple[str, int]:
    """A one-line message and exit code for an error that ended a command: a planloop error
    carries its exit code (see `nodes.errors`); anything else is unexpected (exit 1)."""
    if isinstance(exc, PlanloopError):
        return str(exc), exc.exit_code
    if isinstance(exc, sqlite3.Error):
        return f"database error: {exc}", EXIT_FAILED
    return f"unexpected {type(exc).__name__}: {clean(str(exc))[:300]}", EXIT_FAILED


def _paused(outcome: RunOutcome, printer: ProgressPrinter) -> int:
    """Show what waits for approval and how to answer it without a terminal."""
    for payload in outcome.pending.values():
        for line in describe(payload):
            printer.say(line)
    thread = outcome.thread_id
    printer.say(f"paused for approval; continue with: planloop approve {thread} [--edit JSON]")
    printer.say(f"  or: planloop reject {thread} --feedback TEXT   (add --step ID to pick one)")
    return EXIT_PAUSED


def _continue(
    thread_id: str,
    context: Context,
    args: argparse.Namespace,
    printer: ProgressPrinter,
    *,
    goal: str | None = None,
    answers: dict[str, dict[str, object]] | None = None,
    from_checkpoint: str | None = None,
) -> int:
    """Drive the run; answer approvals at the terminal, or stop with exit 3 without one."""
    on_update = None if args.quiet else printer
    status = None if args.quiet else ModelStatus.for_terminal()
    printer.status = status
    while True:
        run = drive(
            thread_id,
            context,
            goal=goal,
            db=args.db,
            on_update=on_update,
            answers=answers,
            from_checkpoint=from_checkpoint,
            on_event=status,
        )
        outcome = run_interruptibly(status.running(run) if status else run)
        from_checkpoint = None
        if not outcome.paused:
            return _finish(outcome, printer)
        if not sys.stdin.isatty():
            return _paused(outcome, printer)
        goal, answers = None, ask(outcome.pending, input, sys.stdout)


def _finish(outcome: RunOutcome, printer: ProgressPrinter) -> int:
    if outcome.next_nodes:
        printer.say(
            f"run stopped before finishing; continue with: planloop resume {outcome.thread_id}"
        )
        return EXIT_FAILED
    printer.say("")
    printer.say(outcome.answer)
    printer.say("")
    printer.say(f"status: {outcome.status} ({outcome.stop_reason})")
    printer.say(f"budget: {summary(outcome.budget)}")
    if outcome.report_path:
        printer.say(f"report: {outcome.report_path} (in the workspace)")
    printer.say(f"thread: {outcome.thread_id}")
    return STATUS_EXIT.get(outcome.status, EXIT_FAILED)


def cmd_run(args: argparse.Namespace, overrides: dict[str, object]) -> int:
    """`planloop run`: register a new thread and drive it to its end (or a pause)."""
    context = Context(**overrides)  # type: ignore[arg-type]  # checked by the parser
    thread_id = prepare_run(args.goal, thread_id=args.thread_id, context=context, db=args.db)
    args.active_thread = thread_id
    printer = ProgressPrinter()
    printer.say(f"thread {thread_id} (workspace {context.workspace})")
    if context.approval == "none":
        printer.say("warning: --approve none: every action runs without asking")
    return _continue(thread_id, context, args, printer, goal=args.goal)


def cmd_resume(args: argparse.Namespace, overrides: dict[str, object]) -> int:
    """`planloop resume`: continue a stopped thread (or fork it from an earlier checkpoint)."""
    context = load_context(args.thread, args.db, **overrides)
    args.active_thread = args.thread
    before = asyncio.run(thread_outcome(args.thread, args.db))
    fork = args.from_checkpoint
    unstarted = before is None or before.never_started
    if before is not None and not before.next_nodes and not fork and not unstarted:
        raise UsageError(
            f"thread {args.thread} has already ended ({before.status}); nothing to resume"
        )
    printer = ProgressPrinter(budget=before.budget if before else None)
    printer.say(f"resuming thread {args.thread}" + (f" from checkpoint {fork}" if fork else ""))
    # `drive` starts an unstarted thread again from its registered goal.
    return _continue(args.thread, context, args, printer, goal=None, from_checkpoint=fork)


def _answer_pending(args: argparse.Namespace, action: str, overrides: dict[str, object]) -> int:
    context = load_context(args.thread, args.db, **overrides)
    args.active_thread = args.thread
    before = asyncio.run(thread_outcome(args.thread, args.db))
    if before is None or not before.pending:
        raise UsageError(f"thread {args.thread} is not waiting for an approval")
    chosen = select(before.pending, args.step)
    edit = getattr(args, "edit", None)
    if edit is not None and len(chosen) != 1:
        raise UsageError("--edit answers one approval: add --step ID")
    feedback = getattr(args, "feedback", "") or ""
    answers = {
        i: build_answer(p, "edit" if edit is not None else action, edit=edit, feedback=feedback)
        for i, p in chosen.items()
    }
    printer = ProgressPrinter(budget=before.budget)
    printer.say(f"{action} {len(answers)} pending approval(s) on thread {args.thread}")
    return _continue(args.thread, context, args, printer, answers=answers)


def cmd_approve(args: argparse.Namespace, overrides: dict[str, object]) -> int:
    """`planloop approve`: approve (or edit) what a paused run waits for, and go on."""
    return _answer_pending(args, "approve", overrides)


def cmd_reject(args: argparse.Namespace, overrides: dict[str, object]) -> int:
    """`planloop reject`: refuse what a paused run waits for, with feedback, and go on."""
    return _answer_pending(args, "reject", overrides)


def cmd_threads(args: argparse.Namespace, _limits: dict[str, object]) -> int:
    """`planloop threads`: list the runs (or prune idle ones)."""
    if args.prune:
        pruned = asyncio.run(prune_threads(args.db, args.prune))
        print(f"pruned {len(pruned)} thread(s){': ' + ', '.join(pruned) if pruned else ''}")
        return EXIT_DONE
    summaries = asyncio.run(list_threads(args.db))
    if not summaries:
        print("no runs yet")
        return EXIT_DONE
    rows = [("THREAD", "STATUS", "STEPS", "COST", "UPDATED", "GOAL")]
    for item in summaries:
        budget = item.outcome.budget if item.outcome else None
        rows.append(
            (
                item.record.thread_id,
                item.status,
                str(budget.steps if budget else 0),
                f"${budget.cost_usd:.4f}" if budget else "$0.0000",
                item.updated.strftime("%Y-%m-%d %H:%M"),
                clean(item.record.goal.replace("\n", " "))[:50],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    return EXIT_DONE


def _criteria_and_plan(values: dict[str, object]) -> list[str]:
    """`show`'s criteria (met or not, with evidence) and plan (each step's state)."""
    lines = ["criteria:"]
    for c in values.get("criteria", []):  # type: ignore[attr-defined]
        if isinstance(c, Criterion):
            evidence = f" — {c.evidence}" if c.met else ""
            lines.append(f"  [{'x' if c.met else ' '}] {c.id} {c.text}{evidence}")
    results = values.get("results", {})
    lines.append("plan:")
    for s in values.get("plan", []):  # type: ignore[attr-defined]
        if isinstance(s, Step):
            result = results.get(s.id) if isinstance(results, dict) else None
            state = "todo"
            if isinstance(result, StepResult):
                state = f"{result.status}/{result.verdict}"
            lines.append(f"  {state:<14} {step_line(s)}")
    return lines


def cmd_show(args: argparse.Namespace, _limits: dict[str, object]) -> int:
    """`planloop show`: one run's state, or its checkpoint history."""
    record = get_record(args.thread, args.db)
    if args.history:
        print("STEP  NEXT                 TIME                 CHECKPOINT")
        for entry in asyncio.run(thread_history(args.thread, args.db)):
            nodes = ",".join(entry.next_nodes) or "(end)"
            print(f"{entry.step:<5} {nodes:<20} {entry.created_at:<20} {entry.checkpoint_id}")
        return EXIT_DONE
    values = asyncio.run(thread_state(args.thread, args.db))
    print(clean(f"thread:    {record.thread_id}\ngoal:      {record.goal}"))
    print(f"status:    {values.get('status', 'not started')}  {values.get('stop_reason', '')}")
    print(f"objective: {clean(str(values.get('objective', '')))}")
    for line in _criteria_and_plan(values):
        print(clean(line))
    budget = values.get("budget")
    if budget is not None:
        print(f"budget:    {summary(budget)}")  # type: ignore[arg-type]
    pending = values.get("pending_approvals")
    if isinstance(pending, list) and pending:
        print("waiting for approval:")
        for item in pending:
            print(clean(f"  {item.step_id}: {item.summary} ({item.why})"))
    if values.get("answer"):
        print(clean(f"answer:\n{values['answer']}"))
    if values.get("report_path"):
        print(f"report:    {values['report_path']} (in {record.settings.get('workspace')})")
    return EXIT_DONE


COMMANDS: dict[str, Command] = {
    "run": cmd_run,
    "resume": cmd_resume,
    "approve": cmd_approve,
    "reject": cmd_reject,
    "threads": cmd_threads,
    "memory": cmd_memory,
    "show": cmd_show,
    "tools": cmd_tools,
}
