"""Authored duties: the rows behind duties written in chat or in the console.

Each row is one duty as iCalendar text, owned by a commune. Every change is guarded by the
row's `version` (optimistic locking): the caller says which version it edited, and an
UPDATE ... WHERE version = that one changes nothing when someone saved in between, so the
second of two admins is refused (`StaleVersion`), never a lost update. Every change is
recorded with the text before and after it (`authored_duty_change`) and an audit event, in
the caller's transaction: a change exists exactly when its record does.

Validation is not done here: reminders.definitions.authored checks the text with the
same loader as `reminders check` before it calls these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.engine import Connection, Engine

from reminders.errors import RemindersError
from reminders.store.audit import AuditEvent, record_events
from reminders.store.models import AUTHORED_DUTY, AUTHORED_DUTY_CHANGE, AnyRow
from reminders.store.transaction import Bind, reading, writing
from reminders.timeutil import as_utc, from_naive_utc

ACTIONS = ("create", "import", "edit", "pause", "resume", "delete")


class StaleVersion(RemindersError):
    """Someone saved this duty after the version being edited was read."""

    def __init__(self, uid: str, expected: int, current: int | None):
        self.uid, self.expected, self.current = uid, expected, current
        super().__init__(f"{uid}: changed by someone else (version {expected} edited, now "
                         f"{'deleted' if current is None else current})")


class UidTaken(RemindersError):
    """An authored duty with this UID already exists."""

    def __init__(self, uid: str):
        self.uid = uid
        super().__init__(f"an authored duty with UID {uid} already exists")


@dataclass(frozen=True)
class AuthoredRow:
    uid: str
    commune_id: str
    ics_text: str
    sequence: int
    paused: bool
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


def _row(row: AnyRow) -> AuthoredRow:
    return AuthoredRow(row.uid, row.commune_id, row.ics_text, row.sequence, bool(row.paused), row.version,
                       row.created_by, from_naive_utc(row.created_at), row.updated_by,
                       from_naive_utc(row.updated_at))


def list_rows(bind: Bind, commune_id: str | None = None) -> list[AuthoredRow]:
    """Every authored duty (of one commune), in UID order."""
    query = select(AUTHORED_DUTY).order_by(AUTHORED_DUTY.c.uid)
    if commune_id is not None:
        query = query.where(AUTHORED_DUTY.c.commune_id == commune_id)
    with reading(bind) as conn:
        return [_row(r) for r in conn.execute(query).all()]


def get_row(bind: Bind, uid: str) -> AuthoredRow | None:
    with reading(bind) as conn:
        row = conn.execute(select(AUTHORED_DUTY).where(AUTHORED_DUTY.c.uid == uid)).first()
    return _row(row) if row is not None else None


def has_table(engine: Engine) -> bool:
    """False before `reminders db upgrade` created the table (a database of an older release)."""
    return inspect(engine).has_table(AUTHORED_DUTY.name)


def fingerprint(bind: Bind) -> str:
    """Names the authored duties as they are now (UID, version; "" for none): one small SELECT;
    hot reload compares it to know whether to load them again."""
    digest = hashlib.sha256()
    rows = 0
    with reading(bind) as conn:
        for uid, version in conn.execute(select(AUTHORED_DUTY.c.uid, AUTHORED_DUTY.c.version)
                                         .order_by(AUTHORED_DUTY.c.uid)):
            digest.update(f"{uid}\0{version}\0".encode())
            rows += 1
    return digest.hexdigest()[:32] if rows else ""


def _record(conn: Connection, uid: str, commune_id: str, action: str, actor: str, now: datetime,
            before: AuthoredRow | None, after_text: str | None, summary: str) -> None:
    conn.execute(insert(AUTHORED_DUTY_CHANGE).values(
        uid=uid, commune_id=commune_id, at=as_utc(now), actor=actor, action=action,
        before_text=before.ics_text if before else None, after_text=after_text))
    was = f"v{before.version}" if before else "—"
    record_events(conn, [AuditEvent(at=now, event=f"duty-{action}", actor=actor, recipient=f"commune:{commune_id}",
                                    detail=f"{uid} ({summary}): {was} -> {action}")])


def insert_row(bind: Bind, *, uid: str, commune_id: str, ics_text: str, sequence: int, actor: str,
               now: datetime, summary: str = "", action: str = "create") -> AuthoredRow:
    """A new authored duty, version 1; UidTaken if the UID is in use."""
    with writing(bind) as conn:
        taken = conn.execute(select(AUTHORED_DUTY.c.uid).where(AUTHORED_DUTY.c.uid == uid)).first()
        if taken is not None:
            raise UidTaken(uid)
        conn.execute(insert(AUTHORED_DUTY).values(
            uid=uid, commune_id=commune_id, ics_text=ics_text, sequence=sequence, paused=False, version=1,
            created_by=actor, created_at=as_utc(now), updated_by=actor, updated_at=as_utc(now)))
        _record(conn, uid, commune_id, action, actor, now, None, ics_text, summary)
        row = get_row(conn, uid)
    assert row is not None
    return row


def update_row(bind: Bind, uid: str, expected_version: int, *, actor: str, now: datetime, action: str,
               ics_text: str | None = None, sequence: int | None = None, paused: bool | None = None,
               summary: str = "") -> AuthoredRow:
    """Change a row if it is still at `expected_version`; StaleVersion otherwise."""
    with writing(bind) as conn:
        before = get_row(conn, uid)
        values: dict[str, object] = {"version": AUTHORED_DUTY.c.version + 1, "updated_by": actor,
                                     "updated_at": as_utc(now)}
        if ics_text is not None:
            values["ics_text"] = ics_text
        if sequence is not None:
            values["sequence"] = sequence
        if paused is not None:
            values["paused"] = paused
        changed = conn.execute(update(AUTHORED_DUTY).where(
            AUTHORED_DUTY.c.uid == uid, AUTHORED_DUTY.c.version == expected_version).values(**values)).rowcount
        if not changed or before is None:
            raise StaleVersion(uid, expected_version, before.version if before else None)
        _record(conn, uid, before.commune_id, action, actor, now, before,
                ics_text if ics_text is not None else before.ics_text, summary)
        row = get_row(conn, uid)
    assert row is not None
    return row


def delete_row(bind: Bind, uid: str, expected_version: int, *, actor: str, now: datetime,
               summary: str = "") -> AuthoredRow:
    """Remove a row if it is still at `expected_version` (its history stays)."""
    with writing(bind) as conn:
        before = get_row(conn, uid)
        gone = conn.execute(delete(AUTHORED_DUTY).where(
            AUTHORED_DUTY.c.uid == uid, AUTHORED_DUTY.c.version == expected_version)).rowcount
        if not gone or before is None:
            raise StaleVersion(uid, expected_version, before.version if before else None)
        _record(conn, uid, before.commune_id, "delete", actor, now, before, None, summary)
    return before
