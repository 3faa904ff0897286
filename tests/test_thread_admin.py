"""Thread administration: fork from a checkpoint, prune, corrupted and incompatible threads."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from graph.cli import main
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step


def _run_hello(script: Script, workspace: Path, db: Path, thread: str) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "hello.txt", "content": "hi"})),
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote it"}))
    script.add("finish", "done")
    argv = [
        "run",
        "write hello",
        "--workspace",
        str(workspace),
        "--db",
        str(db),
        "--approve",
        "none",
    ]
    assert main([*argv, "--thread-id", thread]) == 0


def _history(db: Path, thread: str, capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    capsys.readouterr()
    assert main(["show", thread, "--history", "--db", str(db)]) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()[1:]]


def test_fork_from_an_earlier_checkpoint(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_hello(script, workspace, db_path, "f1")
    history = _history(db_path, "f1", capsys)
    # Fork from the checkpoint taken right before `reflect` judged s1.
    fork_point = next(row[-1] for row in history if row[1] == "reflect")
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "judged again in the fork"}))
    script.add("finish", "forked")

    assert main(["resume", "f1", "--from", fork_point, "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert f"from checkpoint {fork_point}" in out and "forked" in out
    assert "[step s1]" not in out  # the fork starts after s1 ran; nothing is repeated
    assert (workspace / "hello.txt").read_text() == "hi"
    assert main(["resume", "f1", "--from", "nope", "--db", str(db_path)]) == 2
    assert "has no checkpoint 'nope'" in capsys.readouterr().err


def test_prune_deletes_old_threads_and_vacuums(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_hello(script, workspace, db_path, "old")
    _run_hello(script, workspace, db_path, "new")
    with sqlite3.connect(db_path) as conn:  # age "old" by ten days
        conn.execute(
            "UPDATE planloop_runs SET updated_at = ? WHERE thread_id = 'old'",
            (time.time() - 10 * 86400,),
        )
    capsys.readouterr()
    _age_checkpoints(db_path, "old", days=10)

    assert main(["threads", "--prune", "7", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.strip() == "pruned 1 thread(s): old"
    with sqlite3.connect(db_path) as conn:
        left = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
        journal = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM planloop_journal")}
    assert left == {"new"} and journal == {"new"}
    assert main(["show", "old", "--db", str(db_path)]) == 2


def _age_checkpoints(db: Path, thread: str, days: int) -> None:
    """Rewrite a thread's checkpoint timestamps, as if it had last run `days` ago."""
    import asyncio

    from checkpoints import open_checkpointer

    async def age() -> None:
        async with open_checkpointer(db) as saver:
            rows = [row async for row in saver.alist({"configurable": {"thread_id": thread}})]
            for row in rows:
                checkpoint = dict(row.checkpoint)
                stamp = time.strftime(
                    "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - days * 86400)
                )
                checkpoint["ts"] = stamp
                blob_type, blob = saver.serde.dumps_typed(checkpoint)
                await saver.conn.execute(
                    "UPDATE checkpoints SET checkpoint = ?, type = ? WHERE thread_id = ? "
                    "AND checkpoint_id = ?",
                    (blob, blob_type, thread, row.config["configurable"]["checkpoint_id"]),
                )
            await saver.conn.commit()

    asyncio.run(age())


def test_truncated_checkpoint_names_thread_and_last_good_one(
    script: Script, workspace: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_hello(script, workspace, db_path, "c1")
    history = _history(db_path, "c1", capsys)
    latest, previous = history[-1][-1], history[-2][-1]
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE checkpoints SET checkpoint = substr(checkpoint, 1, 12) "
            "WHERE thread_id = 'c1' AND checkpoint_id = ?",
            (latest,),
        )
    assert main(["show", "c1", "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint of thread c1 cannot be read" in err
    assert f"the last good checkpoint is {previous}: planloop resume c1 --from {previous}" in err
    assert "Traceback" not in err


def test_resume_refuses_a_thread_saved_by_a_different_graph() -> None:
    from langgraph.types import StateSnapshot

    from checkpoints import CheckpointStoreError
    from graph.builder import graph
    from graph.integrity import GRAPH_NODES_KEY, check_shape, graph_signature

    assert "execute_step" in graph_signature(graph).split(",")
    saved_by_older = StateSnapshot(
        values={},
        next=("run_step",),
        config={"configurable": {"thread_id": "v1"}},
        metadata={GRAPH_NODES_KEY: "finish,plan,run_step"},  # type: ignore[typeddict-unknown-key]
        created_at=None,
        parent_config=None,
        tasks=(),
        interrupts=(),
    )
    with pytest.raises(CheckpointStoreError) as refused:
        check_shape(graph, saved_by_older, "v1")
    message = str(refused.value)
    assert "graph had nodes [finish,plan,run_step]" in message
    assert "this version has no node run_step" in message
    assert "planloop resume v1 --from ID" in message
    current = StateSnapshot(
        values={},
        next=("execute_step",),
        config={},
        metadata={},
        created_at=None,
        parent_config=None,
        tasks=(),
        interrupts=(),
    )
    check_shape(graph, current, "v1")  # the same graph: accepted
