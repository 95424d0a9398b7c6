"""SQLAlchemy engines for the services' stores: SQLite by default, PostgreSQL when configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

READ_ONLY_OPTION = "pantau_read_only"


def read_only(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite it does not queue behind writers for the write lock."""
    return engine.connect().execution_options(**{READ_ONLY_OPTION: True})


def build_engine(database_url: str) -> Engine:
    """An engine whose transactions are real transactions on every backend.

    Python's sqlite3 driver (before 3.12's `autocommit`) opens transactions lazily at the first
    write and never before a SAVEPOINT, so a RELEASE could commit half of a request. The documented
    SQLAlchemy recipe takes over: the driver does nothing, and every transaction starts with
    `BEGIN IMMEDIATE`, which also takes the write lock up front so that concurrent writers wait
    (busy_timeout) instead of failing on a lock upgrade.
    """
    if not database_url.startswith("sqlite"):
        return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    path = database_url.split("///", 1)[1] if "///" in database_url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver stops managing transactions
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while one writer writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (marked with `read_only(...)`) need no write lock: WAL gives them a snapshot.
        deferred = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine
