"""Refuse a database this process cannot write, at start, with one clear line: the worker
writes at every tick (heartbeats, claims, snapshots), and each failing write would otherwise
log its own traceback until the process gave up."""

from __future__ import annotations

from urllib.parse import unquote

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from reminders.errors import RemindersError
from reminders.i18n import N_

# Writes nothing (no row matches) yet asks for a write transaction: SQLite opened read-only
# (a 0444 file, `mode=ro`) and a read-only PostgreSQL role or replica both refuse it.
PROBE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")


class ReadOnlyDatabase(RemindersError):
    """The database opens, but this process may not write to it."""


def require_writable(engine: Engine) -> None:
    """Probe for write access in a transaction that is rolled back; raise ReadOnlyDatabase."""
    try:
        with engine.connect() as connection:
            try:
                connection.execute(PROBE)
            finally:
                connection.rollback()
    except DBAPIError as exc:
        if not _read_only(exc):
            raise
        raise ReadOnlyDatabase(N_("the database {database} is read-only ({reason}): reminders writes to it at "
                                  "every tick. Give this process write access to it (the file and its folder, "
                                  "for SQLite), or set REMINDERS_DATABASE_URL to one it may write"),
                               database=unquote(engine.url.render_as_string(hide_password=True)),
                               reason=str(exc.orig).splitlines()[0]) from None


def _read_only(exc: DBAPIError) -> bool:
    words = str(exc.orig).lower()
    return "readonly" in words or "read-only" in words or "read only" in words
