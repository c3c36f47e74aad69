"""The audit trail: what happened to each occurrence, when, and by whom.

Callers record events inside their own transaction (`record_events(conn, [...])`), so an
event exists exactly when the change it describes was committed. A detail is kept with the
process's secrets taken out (`reminders.logs.redact`): a platform's error may echo the
request URL, bot token included. Event names:

    sent, failed, retry, missed, cancelled   a delivery's outcome (the send path)
    held                                     reached a worker in the quiet hours: back to
                                             pending until they end (the send path)
    ack, on-behalf, answer                   an acknowledgement (acks.py)
    snooze                                   "remind me later" (acks.py)
    nudge, escalation                        a follow-up going out is a `sent` of kind
                                             nudge-<n> / escalate-leader / escalate-commune;
                                             the follow-up pass records `followup-cancelled`
                                             when everyone answered before it was due
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from reminders.logs import redact
from reminders.store.arrays import insert_rows
from reminders.store.models import AUDIT_EVENT, OCCURRENCE, AnyRow
from reminders.timeutil import as_utc, from_naive_utc


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    event: str
    occurrence_id: int | None = None
    delivery_id: int | None = None
    team_id: str | None = None
    actor: str | None = None  # person id, or "system"
    recipient: str | None = None  # "person:<id>" / "team:<id>", or a person id
    detail: str | None = None

    def row(self) -> dict[str, object]:
        return {"at": as_utc(self.at), "event": self.event[:32], "occurrence_id": self.occurrence_id,
                "delivery_id": self.delivery_id, "team_id": self.team_id,
                "actor": (self.actor or None) and self.actor[:128],
                "recipient": (self.recipient or None) and self.recipient[:128],
                "detail": (self.detail or None) and redact(self.detail)[:2000]}


def record_events(conn: Connection, events: Iterable[AuditEvent]) -> int:
    """Append events (one statement, store.arrays) in the caller's transaction; returns how many."""
    rows = [e.row() for e in events]
    insert_rows(conn, AUDIT_EVENT, rows)
    return len(rows)


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    event: str
    duty_uid: str | None
    summary: str | None
    occurrence_start: datetime | None
    team_id: str | None
    actor: str | None
    recipient: str | None
    detail: str | None
    delivery_id: int | None


def list_events(engine: Engine, *, duty_uid: str | None = None, day: date | None = None,
                occurrence_id: int | None = None, team_id: str | None = None,
                zone: tzinfo | None = None, limit: int = 2000) -> list[AuditLine]:
    """Events in time order, filtered by duty, by the local day its occurrence starts
    (in `zone`), by occurrence, and by team. The latest `limit` of them: after a month of
    running, what happened this morning matters more than the first day's sends."""
    audit = AUDIT_EVENT.c
    query = (select(audit.at, audit.event, audit.team_id, audit.actor, audit.recipient, audit.detail,
                    audit.delivery_id, OCCURRENCE.c.duty_uid, OCCURRENCE.c.summary, OCCURRENCE.c.start_at)
             .outerjoin(OCCURRENCE, OCCURRENCE.c.id == AUDIT_EVENT.c.occurrence_id)
             .order_by(AUDIT_EVENT.c.at.desc(), AUDIT_EVENT.c.id.desc()).limit(limit))
    if duty_uid:
        query = query.where(OCCURRENCE.c.duty_uid == duty_uid)
    if occurrence_id is not None:
        query = query.where(AUDIT_EVENT.c.occurrence_id == occurrence_id)
    if team_id:
        query = query.where(AUDIT_EVENT.c.team_id == team_id)
    if day is not None:
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        query = query.where(OCCURRENCE.c.start_at >= as_utc(start),
                            OCCURRENCE.c.start_at < as_utc(start + timedelta(days=1)))
    with engine.connect() as conn:
        rows = conn.execute(query).all()[::-1]
    return [AuditLine(from_naive_utc(r.at), r.event, r.duty_uid, r.summary,
                      from_naive_utc(r.start_at) if r.start_at else None, r.team_id, r.actor,
                      r.recipient, r.detail, r.delivery_id) for r in rows]


def delivery_event(row: AnyRow, delivery_id: int, status: str, at: datetime, *, channel: str | None = None,
                   error: str | None = None) -> AuditEvent:
    """The event for a delivery's outcome, for the send path to record with the outcome.

    `row` has the delivery's occurrence_id, team_id, recipient and kind; `status` is the
    outcome (sent, failed, missed, cancelled) or "retry" for a temporary failure.
    """
    detail = row.kind + (f" via {channel}" if channel else "") + (f": {error}" if error else "")
    return AuditEvent(at=at, event=status, occurrence_id=row.occurrence_id, delivery_id=delivery_id,
                      team_id=row.team_id, actor="system", recipient=row.recipient, detail=detail)
