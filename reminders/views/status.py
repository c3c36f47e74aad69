"""Read models for people: what is coming, and who has acknowledged what."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.codes import delivery_code
from reminders.definitions.audience import people_reached
from reminders.definitions.roster import Roster
from reminders.kinds import DeliveryStatus, OccurrenceStatus
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, OCCURRENCE
from reminders.store.transaction import Bind, reading
from reminders.text import shown
from reminders.timeutil import as_utc, from_naive_utc


@dataclass(frozen=True)
class Upcoming:
    due_at: datetime
    summary: str
    recipient: str
    kind: str
    delivery_id: int = 0
    team_id: str = ""
    starts_at: datetime | None = None  # the occurrence's

    @property
    def code(self) -> str:
        """The code `reminders ack` takes for it (the terminal may acknowledge ahead of time)."""
        return delivery_code(self.delivery_id)


@dataclass(frozen=True)
class TeamProgress:
    occurrence_id: int
    summary: str
    start: datetime
    all_day: bool
    team_id: str
    team_name: str
    expected: tuple[str, ...]  # person ids
    acknowledged: tuple[str, ...]
    answers: dict[str, str]
    codes: tuple[str, ...]

    @property
    def progress(self) -> str:
        """'2/3: An, Bình' — the short form used in chats and tables."""
        return f"{len(self.acknowledged)}/{len(self.expected)}" + (
            ": " + ", ".join(self.acknowledged_names) if self.acknowledged else "")

    acknowledged_names: tuple[str, ...] = ()


class _Group(TypedDict):
    summary: str
    start: datetime
    all_day: bool
    expected: list[str]
    codes: list[str]


def upcoming(engine: Engine, limit: int = 10) -> list[Upcoming]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(DELIVERY.c.due_at, OCCURRENCE.c.summary, DELIVERY.c.recipient, DELIVERY.c.kind, DELIVERY.c.id,
                   DELIVERY.c.team_id, OCCURRENCE.c.start_at)
            .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
            .where(DELIVERY.c.status == DeliveryStatus.PENDING).order_by(DELIVERY.c.due_at, DELIVERY.c.id)
            .limit(limit)).all()
    return [Upcoming(from_naive_utc(r.due_at), r.summary, r.recipient, r.kind, r.id, r.team_id,
                     from_naive_utc(r.start_at)) for r in rows]


def occurrence_status(engine: Bind, roster: Roster, since: datetime, until: datetime,
                      team_id: str | None = None) -> list[TeamProgress]:
    """Per occurrence and team: who was expected to acknowledge, who did, and the codes to
    acknowledge with: those sent, and those still to go (the terminal's `reminders ack` may
    take them ahead of time; a chat takes only what was sent there).
    Names and answers come as they are to be shown (no bidirectional or invisible controls)."""
    with reading(engine) as conn:
        occ_filter = [OCCURRENCE.c.start_at >= as_utc(since), OCCURRENCE.c.start_at < as_utc(until),
                      OCCURRENCE.c.status == OccurrenceStatus.SCHEDULED]
        deliveries = conn.execute(
            select(DELIVERY.c.id, DELIVERY.c.occurrence_id, DELIVERY.c.team_id, DELIVERY.c.recipient,
                   DELIVERY.c.status, OCCURRENCE.c.summary, OCCURRENCE.c.start_at, OCCURRENCE.c.all_day)
            .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id).where(*occ_filter)
            .where(DELIVERY.c.status != DeliveryStatus.CANCELLED)).all()
        acks = conn.execute(
            select(ACKNOWLEDGEMENT.c.occurrence_id, ACKNOWLEDGEMENT.c.team_id, ACKNOWLEDGEMENT.c.person_id,
                   ACKNOWLEDGEMENT.c.answer)
            .join(OCCURRENCE, OCCURRENCE.c.id == ACKNOWLEDGEMENT.c.occurrence_id).where(*occ_filter)).all()
    groups: dict[tuple[int, str], _Group] = {}
    for d in deliveries:
        if team_id and d.team_id != team_id:
            continue
        entry = groups.setdefault((d.occurrence_id, d.team_id), {
            "summary": d.summary, "start": from_naive_utc(d.start_at), "all_day": d.all_day,
            "expected": [], "codes": []})
        team = roster.teams.get(d.team_id)
        people = people_reached(d.recipient, team) if team else (d.recipient.partition(":")[2],)
        entry["expected"].extend(p for p in people if p not in entry["expected"])
        entry["codes"].append(delivery_code(d.id))
    acked: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    for a in acks:
        acked[(a.occurrence_id, a.team_id)][a.person_id] = shown(a.answer or "")
    result = []
    for (occ_id, tid), entry in groups.items():
        team = roster.teams.get(tid)
        done = tuple(p for p in entry["expected"] if p in acked[(occ_id, tid)])
        names = tuple((shown(roster.people[p].name).split() or [p])[-1] if p in roster.people else p for p in done)
        result.append(TeamProgress(occ_id, entry["summary"], entry["start"], entry["all_day"], tid,
                                   team.name if team else tid, tuple(entry["expected"]), done,
                                   acked[(occ_id, tid)], tuple(entry["codes"]), names))
    result.sort(key=lambda r: (r.start, r.team_name))
    return result
