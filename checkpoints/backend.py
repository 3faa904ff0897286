"""Which database a run lives in: a SQLite file (the default) or a PostgreSQL server.

`--db` (or `$PLANLOOP_DB`) takes a file path or a `postgresql://` URL. Everything persistent
(checkpoints, run registry, side-effect journal, memory store, the per-thread lock) follows that
choice, so processes on several machines can share runs through one Postgres database.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import MetaData, Table, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine

from checkpoints.saver import BUSY_TIMEOUT_MS, default_db_path, planloop_home
from checkpoints.schema_lock import schema_lock

DB_ENV = "PLANLOOP_DB"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SCHEMA_LOCK_KEY = 0x706C616E6C6F6F70  # "planloop": serialises table creation across processes
LOCKS_DIR = "locks"
"""Per-thread lock files, in the state folder (SQLite)."""
RECEIPTS_DIR = "receipts"
"""Code-run receipts, in the state folder."""
OWNED_SUBFOLDERS = (LOCKS_DIR, RECEIPTS_DIR)
"""The state folder's subfolders that are planloop's alone."""


def is_postgres(db: str | os.PathLike[str]) -> bool:
    """True when `db` is a PostgreSQL URL rather than a SQLite file path."""
    return str(db).startswith(POSTGRES_SCHEMES)


def resolve_target(db: str | os.PathLike[str] | None) -> Path | str:
    """The database to use: `db`, else $PLANLOOP_DB, else $PLANLOOP_HOME/planloop.db.

    A PostgreSQL URL is returned as a string; anything else is a SQLite file path.
    """
    chosen = db or os.environ.get(DB_ENV) or None
    if chosen is None:
        return default_db_path()
    return str(chosen) if is_postgres(chosen) else Path(chosen)


def state_folder(db: str | os.PathLike[str]) -> Path:
    """The local folder of planloop's own files for this database, resolved: the SQLite file's
    folder (the database, SQLite's journal files, locks, code-run receipts), or for Postgres the
    planloop home (code-run receipts). No tool may reach it (see `tools.confinement`)."""
    folder = planloop_home() if is_postgres(db) else Path(db).expanduser().parent
    return folder.resolve()


def redact(db: str | os.PathLike[str]) -> str:
    """The database for messages: a URL without its password."""
    if not is_postgres(db):
        return str(db)
    parts = urlsplit(str(db))
    if parts.password is None:
        return str(db)
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def sqlalchemy_url(db: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of the database (psycopg 3 for Postgres)."""
    if is_postgres(db):
        return "postgresql+psycopg://" + str(db).split("://", 1)[1]
    return f"sqlite:///{Path(db)}"


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(db: str | os.PathLike[str]) -> Engine:
    """A SQLAlchemy engine on the database: SQLite gets its busy timeout, Postgres a small pool."""
    if is_postgres(db):
        return create_engine(sqlalchemy_url(db), pool_size=1, max_overflow=2, pool_pre_ping=True)
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sqlalchemy_url(db))
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_tables(engine: Engine, metadata: MetaData) -> None:
    """Create missing tables one process at a time (CREATE TABLE is not race-free)."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        with schema_lock(engine.url.database), engine.begin() as conn:
            metadata.create_all(conn)
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            _schema_lock(conn)
        metadata.create_all(conn)


def add_missing_columns(engine: Engine, table: Table) -> None:
    """Add columns a newer planloop declares to a table an older one created (nullable ones,
    so existing rows stay valid); idempotent, one process at a time."""

    def missing(conn: Connection) -> list[str]:
        present = {column["name"] for column in inspect(conn).get_columns(table.name)}
        return [column.name for column in table.columns if column.name not in present]

    with engine.connect() as probe:
        if not missing(probe):
            return
    if engine.dialect.name == "sqlite" and engine.url.database:
        with schema_lock(engine.url.database), engine.begin() as conn:
            _add_columns(conn, table, missing(conn))
        return
    with engine.begin() as conn:
        _schema_lock(conn)
        _add_columns(conn, table, missing(conn))


def _add_columns(conn: Connection, table: Table, names: list[str]) -> None:
    for name in names:
        column = table.columns[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}'))


def _schema_lock(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name."""
    raw = hashlib.sha256(f"planloop:{name}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)
