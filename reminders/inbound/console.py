"""What an admin changes in the web console, each with its authority check and its audit
event in the same transaction: retrying a failed delivery, feed links (create, rotate,
revoke), invite codes. Authority is the session's commune, checked here, where the change
is recorded -- a form naming another commune's delivery or link changes nothing.

Roster edits and new duties are files: they are audited once the file is in place.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from reminders.codes import parse_delivery_code
from reminders.definitions.roster import Roster
from reminders.kinds import DeliveryStatus
from reminders.runtime import Runtime
from reminders.store.admin_access import Admin
from reminders.store.audit import AuditEvent, record_events
from reminders.store.feed_tokens import create_token
from reminders.store.invites import create_invite
from reminders.store.models import DELIVERY, FEED_TOKEN
from reminders.timeutil import as_utc

RETRY_GRACE = timedelta(hours=12)  # as `reminders deliveries --retry`


class Refused(Exception):
    """Not this admin's to change (another commune's), or no longer there."""


def commune_teams(roster: Roster, commune_id: str) -> set[str]:
    return {team.id for team in roster.teams_in(commune_id)}


def scope_in_commune(scope: str, roster: Roster, commune_id: str) -> bool:
    """Whether a feed scope is the commune's own: the commune, or one of its teams."""
    kind, _, value = scope.partition(":")
    return (kind == "commune" and value == commune_id) or (kind == "team" and value in commune_teams(roster, commune_id))


def audit(conn: Connection, admin: Admin, event: str, now: datetime, detail: str, *, team_id: str | None = None,
          delivery_id: int | None = None, occurrence_id: int | None = None) -> None:
    """One console event: who (the admin), for which commune (the recipient), what."""
    record_events(conn, [AuditEvent(at=now, event=event, actor=admin.person_id, recipient=f"commune:{admin.commune_id}",
                                    team_id=team_id, delivery_id=delivery_id, occurrence_id=occurrence_id,
                                    detail=detail)])


def record(rt: Runtime, admin: Admin, event: str, now: datetime, detail: str, *, team_id: str | None = None) -> None:
    with rt.engine.begin() as conn:
        audit(conn, admin, event, now, detail, team_id=team_id)


def retry_delivery(rt: Runtime, admin: Admin, code: str, now: datetime) -> None:
    """A failed delivery of one of the commune's teams back in the outbox, due now."""
    delivery_id = parse_delivery_code(code)
    teams = commune_teams(rt.roster, admin.commune_id)
    with rt.engine.begin() as conn:
        row = conn.execute(update(DELIVERY).where(
            DELIVERY.c.id == delivery_id, DELIVERY.c.status == DeliveryStatus.FAILED, DELIVERY.c.team_id.in_(teams))
            .values(status=DeliveryStatus.PENDING, due_at=as_utc(now), attempts=0, lease_until=None, claimed_by=None,
                    expires_at=as_utc(now + RETRY_GRACE))
            .returning(DELIVERY.c.team_id, DELIVERY.c.occurrence_id, DELIVERY.c.kind, DELIVERY.c.recipient)).first()
        if row is None:
            raise Refused(code)
        audit(conn, admin, "retry", now, f"{row.kind} to {row.recipient}: retried from the web console",
              team_id=row.team_id, delivery_id=delivery_id, occurrence_id=row.occurrence_id)


def create_feed(rt: Runtime, admin: Admin, scope: str, label: str, now: datetime) -> str:
    if not scope_in_commune(scope, rt.roster, admin.commune_id):
        raise Refused(scope)
    with rt.engine.begin() as conn:
        token_id, token = create_token(conn, scope, now, label[:200])
        audit(conn, admin, "feed-created", now, f"feed #{token_id} for {scope} ({label[:200]})")
    return token


def _own_live_feed(conn: Connection, rt: Runtime, admin: Admin, token_id: int) -> tuple[str, str]:
    row = conn.execute(select(FEED_TOKEN.c.scope, FEED_TOKEN.c.label).where(
        FEED_TOKEN.c.id == token_id, FEED_TOKEN.c.revoked_at.is_(None)).with_for_update()).first()
    if row is None or not scope_in_commune(row.scope, rt.roster, admin.commune_id):
        raise Refused(str(token_id))
    return str(row.scope), str(row.label)


def revoke_feed(rt: Runtime, admin: Admin, token_id: int, now: datetime) -> None:
    with rt.engine.begin() as conn:
        scope, _ = _own_live_feed(conn, rt, admin, token_id)
        conn.execute(update(FEED_TOKEN).where(FEED_TOKEN.c.id == token_id).values(revoked_at=as_utc(now)))
        audit(conn, admin, "feed-revoked", now, f"feed #{token_id} for {scope}")


def rotate_feed(rt: Runtime, admin: Admin, token_id: int, now: datetime) -> str:
    """The old link stops working; a new one for the same scope and label."""
    with rt.engine.begin() as conn:
        scope, label = _own_live_feed(conn, rt, admin, token_id)
        conn.execute(update(FEED_TOKEN).where(FEED_TOKEN.c.id == token_id).values(revoked_at=as_utc(now)))
        new_id, token = create_token(conn, scope, now, label)
        audit(conn, admin, "feed-rotated", now, f"feed #{token_id} for {scope} replaced by #{new_id}")
    return token


def make_invites(rt: Runtime, admin: Admin, person_ids: list[str], now: datetime) -> dict[str, str]:
    """New invite codes for people of the commune (their earlier unused codes stop working)."""
    roster = rt.roster
    teams = commune_teams(roster, admin.commune_id)
    for pid in person_ids:
        person = roster.people.get(pid)
        if person is None or not (person.commune_id == admin.commune_id or person.team_id in teams):
            raise Refused(pid)
    codes = {pid: create_invite(rt.engine, pid, now) for pid in person_ids}
    record(rt, admin, "invites", now, f"invite codes for {len(codes)}: {', '.join(person_ids)[:1500]}")
    return codes
