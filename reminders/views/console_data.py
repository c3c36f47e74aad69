"""What the web console's pages show, read for one commune: its deliveries, feed links and
audit trail (nothing of another commune's is read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from reminders.codes import delivery_code
from reminders.definitions.roster import Roster
from reminders.kinds import DeliveryStatus
from reminders.logs import redact
from reminders.store.models import AUDIT_EVENT, DELIVERY, FEED_TOKEN, OCCURRENCE, AnyRow
from reminders.text import shown
from reminders.timeutil import DEFAULT_TZ, as_utc, from_naive_utc

MAX_ROWS = 100


@dataclass(frozen=True)
class DeliveryLine:
    code: str
    due: str
    summary: str
    team: str
    recipient: str
    kind: str
    status: str
    error: str


@dataclass(frozen=True)
class FeedLine:
    id: int
    scope: str
    label: str
    created: str


@dataclass(frozen=True)
class AuditLine:
    at: str
    event: str
    actor: str
    team: str
    detail: str


def commune_zone(roster: Roster, commune_id: str) -> ZoneInfo:
    commune = roster.communes.get(commune_id)
    return ZoneInfo(commune.timezone if commune else roster.timezone or DEFAULT_TZ)


def _clock(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%H:%M %d/%m")


def deliveries(engine: Engine, roster: Roster, commune_id: str, now: datetime) -> tuple[list[DeliveryLine],
                                                                                         list[DeliveryLine]]:
    """(today's, failed ones) for the commune's teams; today is the commune's local day."""
    zone = commune_zone(roster, commune_id)
    teams = {team.id: team.name for team in roster.teams_in(commune_id)}
    day = datetime.combine(now.astimezone(zone).date(), time(), zone)
    base = (select(DELIVERY.c.id, DELIVERY.c.due_at, DELIVERY.c.team_id, DELIVERY.c.recipient, DELIVERY.c.kind,
                   DELIVERY.c.status, DELIVERY.c.error, OCCURRENCE.c.summary)
            .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
            .where(DELIVERY.c.team_id.in_(teams)).limit(MAX_ROWS))
    today = base.where(DELIVERY.c.due_at >= as_utc(day), DELIVERY.c.due_at < as_utc(day + timedelta(days=1))
                       ).order_by(DELIVERY.c.due_at, DELIVERY.c.id)
    failed = base.where(DELIVERY.c.status == DeliveryStatus.FAILED).order_by(DELIVERY.c.due_at.desc())
    with engine.connect() as conn:
        found = [conn.execute(query).all() for query in (today, failed)]

    def line(row: AnyRow) -> DeliveryLine:
        return DeliveryLine(delivery_code(row.id), _clock(from_naive_utc(row.due_at), zone), shown(row.summary),
                            teams.get(row.team_id, row.team_id), row.recipient, row.kind, row.status,
                            shown(redact(row.error or ""))[:300])  # rows stored before redaction too

    return [line(r) for r in found[0]], [line(r) for r in found[1]]


def feeds(engine: Engine, roster: Roster, commune_id: str) -> list[FeedLine]:
    """The commune's live links: for the commune, or for one of its teams."""
    zone = commune_zone(roster, commune_id)
    scopes = [f"commune:{commune_id}", *(f"team:{team.id}" for team in roster.teams_in(commune_id))]
    with engine.connect() as conn:
        rows = conn.execute(select(FEED_TOKEN.c.id, FEED_TOKEN.c.scope, FEED_TOKEN.c.label, FEED_TOKEN.c.created_at)
                            .where(FEED_TOKEN.c.scope.in_(scopes), FEED_TOKEN.c.revoked_at.is_(None))
                            .order_by(FEED_TOKEN.c.id)).all()
    return [FeedLine(r.id, r.scope, shown(r.label), _clock(from_naive_utc(r.created_at), zone)) for r in rows]


def audit_trail(engine: Engine, roster: Roster, commune_id: str) -> list[AuditLine]:
    """The latest events of the commune: its teams' and its admins' (newest first)."""
    zone = commune_zone(roster, commune_id)
    teams = {team.id: team.name for team in roster.teams_in(commune_id)}
    audit = AUDIT_EVENT.c
    with engine.connect() as conn:
        rows = conn.execute(select(audit.at, audit.event, audit.actor, audit.team_id, audit.detail, audit.recipient)
                            .where(or_(audit.team_id.in_(teams), audit.recipient == f"commune:{commune_id}"))
                            .order_by(audit.at.desc(), audit.id.desc()).limit(MAX_ROWS)).all()

    def who(actor: str | None) -> str:
        person = roster.people.get(actor or "")
        return shown(person.name) if person else actor or ""

    return [AuditLine(_clock(from_naive_utc(r.at), zone), r.event, who(r.actor), teams.get(r.team_id or "", ""),
                      shown(redact(r.detail or ""))) for r in rows]
