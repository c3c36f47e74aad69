"""One all-in-one worker per database: `reminders run` holds a lock for its process's life.

Two `reminders run` on one database each plan, dispatch and send with their own in-process
rate limits: together they exceed the platforms' limits (429s) and race each other's
claims (duplicates). The lock is one the operating system (or PostgreSQL) releases when the
process ends, however it ends -- a `kill -9` or a power cut never leaves it behind:

- SQLite: `flock` on a file beside the database (`<database>.run-lock`), held open;
- PostgreSQL: a session advisory lock on a connection kept open; the server releases it
  when the connection closes, which the kernel does when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ADVISORY_KEY = 727275  # "reminders run" (migrations serialise on 727274)
APPLICATION = "reminders run"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as far as it can be told (a field may be empty)."""

    pid: str = ""
    host: str = ""
    since: str = ""  # ISO 8601, UTC


class RunLock:
    """A held lock; released by `release()` or when the process ends."""

    def __init__(self, resource: Any = None) -> None:
        self._resource = resource

    def release(self) -> None:
        resource, self._resource = self._resource, None
        if isinstance(resource, int):
            os.close(resource)  # closing the descriptor drops the flock
        elif resource is not None:
            resource.close()


def _me() -> Holder:
    return Holder(str(os.getpid()), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"))


def lock_file(database_url: str) -> Path | None:
    """The lock file of a SQLite database; None for an in-memory one."""
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).with_name(Path(database).name + ".run-lock")


def hold(database_url: str) -> tuple[RunLock | None, Holder | None]:
    """(the lock, None) if this process now holds it; (None, the holder) if another does."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return _hold_postgres(database_url)
    return _hold_file(database_url)


def _hold_file(database_url: str) -> tuple[RunLock | None, Holder | None]:
    path = lock_file(database_url)
    if path is None or not path.parent.is_dir():
        return RunLock(), None  # nothing to share, or no database to open there (its own error follows)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by child processes
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").split()
        os.close(fd)
        return None, Holder(*text[:3])
    except BaseException:
        os.close(fd)
        raise
    me = _me()
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{me.pid} {me.host} {me.since}\n".encode(), 0)
    return RunLock(fd), None


def _hold_postgres(database_url: str) -> tuple[RunLock | None, Holder | None]:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    me = _me()
    # The holder names itself in application_name, so a second process can say who it is.
    conn = psycopg.connect(url, autocommit=True, application_name=f"{APPLICATION} {me.pid} {me.host} {me.since}",
                           keepalives=1, keepalives_idle=60, keepalives_interval=10, keepalives_count=5)
    try:
        held = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()
        if held and held[0]:
            return RunLock(conn), None
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())", (ADVISORY_KEY,)).fetchone()
    except BaseException:
        conn.close()
        raise
    conn.close()
    name = str(row[0]) if row and row[0] else ""
    return None, Holder(*name.removeprefix(APPLICATION).split()[:3])
