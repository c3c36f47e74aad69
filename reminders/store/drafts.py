"""Drafts: a duty change an admin asked for in chat, shown back to them and waiting for
✅ Lưu / ✖ Hủy (or the words "lưu" / "hủy" where a platform has no buttons). Kept in the
database, so the press may reach any process (a webhook on the web app, the polling bot)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from reminders.store.models import DUTY_DRAFT
from reminders.timeutil import as_utc

LIFETIME = timedelta(days=1)  # an older draft is no longer saved: describe the duty again


@dataclass(frozen=True)
class Draft:
    id: int
    commune_id: str
    person_id: str
    adapter: str
    chat: str
    action: str  # create | edit | delete
    uid: str
    ics_text: str | None
    base_version: int | None
    state: str


def open_draft(conn: Connection, *, commune_id: str, person_id: str, adapter: str, chat: str, action: str,
               uid: str, ics_text: str | None, base_version: int | None, now: datetime) -> int:
    """A new open draft; the person's earlier open drafts in this chat are dropped (a new
    /newduty replaces the one before: that is how ✏️ Sửa works)."""
    conn.execute(update(DUTY_DRAFT).where(DUTY_DRAFT.c.person_id == person_id, DUTY_DRAFT.c.adapter == adapter,
                                          DUTY_DRAFT.c.chat == chat, DUTY_DRAFT.c.state == "open")
                 .values(state="replaced"))
    row = conn.execute(insert(DUTY_DRAFT).values(
        commune_id=commune_id, person_id=person_id, adapter=adapter, chat=chat, action=action, uid=uid,
        ics_text=ics_text, base_version=base_version, created_at=as_utc(now), state="open")
        .returning(DUTY_DRAFT.c.id)).scalar_one()
    return int(row)


def find_open(conn: Connection, person_id: str, now: datetime, *, draft_id: int | None = None,
              adapter: str | None = None, chat: str | None = None) -> Draft | None:
    """The person's open draft: the one a button names, or the latest in this chat. Locked
    (PostgreSQL) so that a double press saves it once."""
    query = select(DUTY_DRAFT).where(DUTY_DRAFT.c.person_id == person_id, DUTY_DRAFT.c.state == "open",
                                     DUTY_DRAFT.c.created_at > as_utc(now - LIFETIME))
    if draft_id is not None:
        query = query.where(DUTY_DRAFT.c.id == draft_id)
    if adapter is not None and chat is not None:
        query = query.where(DUTY_DRAFT.c.adapter == adapter, DUTY_DRAFT.c.chat == chat)
    row = conn.execute(query.order_by(DUTY_DRAFT.c.id.desc()).limit(1).with_for_update()).first()
    if row is None:
        return None
    return Draft(row.id, row.commune_id, row.person_id, row.adapter, row.chat, row.action, row.uid, row.ics_text,
                 row.base_version, row.state)


def close(conn: Connection, draft_id: int, state: str) -> None:
    conn.execute(update(DUTY_DRAFT).where(DUTY_DRAFT.c.id == draft_id).values(state=state))
