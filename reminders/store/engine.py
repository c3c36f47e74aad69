"""Engine creation: SQLite by default (WAL, busy timeout), PostgreSQL by URL.

SQL parameters never appear in an error's text or a log line (`hide_parameters`): they may be
tokens. A SQLite database file is created readable by its owner only (0600); SQLite gives
its -wal and -shm files the database file's mode, and an existing file readable by others
is narrowed to 0600 when a process opens it."""

from __future__ import annotations

import logging
import os
import stat

from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import SQLModel, create_engine

from reminders.store import models  # noqa: F401  (registers the tables)
from reminders.store.migrate import upgrade

metadata = SQLModel.metadata
log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///reminders.db"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str = DEFAULT_DATABASE_URL, *, create: bool = True) -> Engine:
    """An engine for `url`; with `create`, the schema is migrated to the latest revision."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        private_file(make_url(url).database)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)
    if create:
        upgrade(engine)
    return engine


def private_file(database: str | None) -> None:
    """Create the SQLite file `database` 0600 if it does not exist (SQLite would create it
    with the umask's mode, usually 0644), and narrow an existing one (and its -wal and -shm
    files) to 0600 if others may read it. In-memory databases have no file."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # a directory that does not exist, or no right to write it: SQLite will say so
    for path in (database, database + "-wal", database + "-shm"):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                os.chmod(path, 0o600)
                log.warning("%s was readable by other users (mode %04o): narrowed to 0600", path, mode)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by other users and not ours to change: chmod 600 it", path)
