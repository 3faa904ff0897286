"""The same persistence guarantees on PostgreSQL (`--db postgresql://...`).

Set PLANLOOP_TEST_PG_URL to a database the tests may use (its role needs CREATEDB for a fresh
database per test; without it the tests share that database with unique thread ids). `.ci/run`
starts a loopback-only server and sets it; under CI a missing URL fails instead of skipping.
Run with `-s` to see the measured counts (effects repeated, runs lost, lock errors).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from checkpoints import open_store
from checkpoints.backend import redact, resolve_target
from checkpoints.memory import Memory, MemoryBank
from graph.api import arun, resolve_db
from graph.cli import main
from nodes.context import Context
from tests.fakes import Script, goal_reply, plan_reply, reflect_reply, step
from tests.test_durability import busy_thread_refused, many_threads, seeded_kills
from tests.test_integrity import (
    ORDERED,
    WRITERS,
    crash_at_points,
    ordered_writes,
    parallel_writes,
    seeded_points,
)

pytestmark = pytest.mark.slow

PG_ENV = "PLANLOOP_TEST_PG_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the test server (dropped afterwards)."""
    base = os.environ.get(PG_ENV, "")
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: CI must run the PostgreSQL tests (see .ci/run)")
        pytest.skip(f"{PG_ENV} is not set (a postgresql:// URL; .ci/run starts a local server)")
    name = f"planloop_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.errors.InsufficientPrivilege:
        yield base  # no CREATEDB: share the database; the tests' thread ids are unique
        return
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as admin:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.errors.InsufficientPrivilege:
            # FORCE may not end a backend of another role: an autovacuum worker that started on
            # the new database after a busy test (seen once in CI). A plain DROP has the server
            # stop autovacuum itself; a session of ours still open fails it, as it should.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _tid(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def test_db_selection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = "postgresql://u:secret@127.0.0.1:5432/db"
    monkeypatch.delenv("PLANLOOP_DB", raising=False)
    monkeypatch.setenv("PLANLOOP_HOME", str(tmp_path))
    assert resolve_db(None) == tmp_path / "planloop.db"
    monkeypatch.setenv("PLANLOOP_DB", url)
    assert resolve_db(None) == url  # the environment wins over the default
    assert resolve_db(tmp_path / "x.db") == tmp_path / "x.db"  # --db wins over the environment
    assert resolve_target("postgres://h/db") == "postgres://h/db"
    monkeypatch.setenv("PLANLOOP_DB", str(tmp_path / "env.db"))
    assert resolve_db(None) == tmp_path / "env.db"
    assert redact(url) == "postgresql://u:***@127.0.0.1:5432/db"


def _hello(script: Script) -> None:
    script.add("parse_goal", goal_reply("hello.txt exists"))
    script.add(
        "plan",
        plan_reply(step("s1", tool="write_file", args={"path": "hello.txt", "content": "hi"})),
    )
    script.add("reflect", reflect_reply({"s1": True}, {"c1": "s1 wrote it"}))
    script.add("finish", "done")


async def test_whole_run_then_threads_and_show(
    script: Script,
    context: Context,
    workspace: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PLANLOOP_HOME", str(tmp_path / "home"))
    _hello(script)
    thread = _tid("inproc")
    outcome = await arun("write hello", context=context, thread_id=thread, db=pg_url)
    assert outcome.status == "done" and (workspace / "hello.txt").read_text() == "hi"
    assert not (tmp_path / "home").exists(), list(
        (tmp_path / "home").rglob("*")
    )  # nothing went to a SQLite file

    capsys.readouterr()
    assert await _main(["threads", "--db", pg_url]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(thread))
    assert row.split()[1] == "done"
    assert await _main(["show", thread, "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert "status:    done" in out and "answer:\ndone" in out
    assert await _main(["show", thread, "--history", "--db", pg_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 4


async def _main(argv: list[str]) -> int:
    """The CLI calls asyncio.run itself: run it off this test's event loop."""
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_memory_bank_on_the_postgres_store(pg_url: str) -> None:
    async with open_store(pg_url) as store:
        bank = MemoryBank(store, ("planloop", "me", _tid("proj")), max_items=3)
        await bank.remember(
            [
                Memory("lesson", "pytest needs a conftest for shared fixtures"),
                Memory("fact", "the docs server listens on port 8000", source="http://x"),
                Memory("lesson", "pytest needs a conftest for shared fixtures"),  # duplicate
            ]
        )
        assert len(await bank.list()) == 2
        recalled = await bank.recall("which port does the docs server use", 5)
        assert recalled and "port 8000" in recalled[0][0].text
        key = (await bank.list())[0][0]
        assert await bank.forget(key) and not await bank.forget(key)
        assert await bank.clear() == 1


def test_prune_and_an_unreadable_checkpoint(
    script: Script, workspace: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _tid("old"), _tid("new")
    for thread in (old, new):
        _hello(script)
        argv = ["run", "write hello", "--workspace", str(workspace), "--approve", "none"]
        assert main([*argv, "--db", pg_url, "--thread-id", thread]) == 0
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 10 * 86400))
    with psycopg.connect(pg_url, autocommit=True) as conn:  # age `old` by ten days
        conn.execute(
            "UPDATE planloop_runs SET updated_at = %s WHERE thread_id = %s",
            (time.time() - 10 * 86400, old),
        )
        conn.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{ts}', to_jsonb(%s::text))"
            " WHERE thread_id = %s",
            (stamp, old),
        )
    capsys.readouterr()
    assert main(["threads", "--prune", "7", "--db", pg_url]) == 0
    assert capsys.readouterr().out.strip() == f"pruned 1 thread(s): {old}"
    with psycopg.connect(pg_url) as conn:
        for table in ("checkpoints", "checkpoint_blobs", "planloop_journal", "planloop_runs"):
            rows = conn.execute(f"SELECT 1 FROM {table} WHERE thread_id = %s", (old,)).fetchall()
            assert rows == [], table
        assert conn.execute("SELECT 1 FROM checkpoints WHERE thread_id = %s", (new,)).fetchall()
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = ''"
                " ORDER BY checkpoint_id DESC",
                (new,),
            )
        ]
        conn.execute(  # damage the latest checkpoint of `new`
            "UPDATE checkpoints SET checkpoint = '{\"v\": 1}'::jsonb "
            "WHERE thread_id = %s AND checkpoint_id = %s",
            (new, ids[0]),
        )
    assert main(["show", new, "--db", pg_url]) == 1
    err = capsys.readouterr().err
    assert f"checkpoint of thread {new} cannot be read" in err
    assert f"the last good checkpoint is {ids[1]}: planloop resume {new} --from {ids[1]}" in err
    assert "Traceback" not in err


def test_seeded_kills_never_lose_or_repeat_a_step(
    workspace: Path, env: dict[str, str], pg_url: str
) -> None:
    seeded_kills(workspace, env, db=pg_url, thread=_tid("k1")).assert_clean()


def test_kill_at_twenty_seeded_points_repeats_and_loses_nothing(
    tmp_path: Path, env: dict[str, str], pg_url: str
) -> None:
    points = seeded_points()
    figures = crash_at_points(tmp_path, env, points, db=pg_url)
    repeated, lost = sum(f[1] for f in figures), sum(f[2] for f in figures)
    print(f"\npostgres: {len(points)} kills, {repeated} effects repeated, {lost} lost")
    assert [f for f in figures if f[1:] != (0, 0, "done")] == []


async def test_parallel_and_ordered_writes_to_one_file(workspace: Path, pg_url: str) -> None:
    figures = await parallel_writes(workspace, pg_url)
    print(f"\npostgres: 16 parallel writers, kept {figures[1]}, lost {figures[2]}")
    assert figures == ("done", WRITERS, 0)
    assert await ordered_writes(workspace, pg_url) == ("done", ORDERED)


def test_second_process_on_a_running_thread_is_refused(
    tmp_path: Path, env: dict[str, str], pg_url: str
) -> None:
    busy_thread_refused(tmp_path, env, db=pg_url, suffix=uuid.uuid4().hex[:6]).assert_clean()


def test_many_processes_on_many_threads_share_one_database(
    tmp_path: Path, env: dict[str, str], pg_url: str
) -> None:
    many_threads(tmp_path, env, db=pg_url).assert_clean()
