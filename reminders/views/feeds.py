"""Calendar feeds for commune officials: duties as RFC 5545, with completion overlaid.

A feed covers a commune, a team or a category. Rules stay rules (RRULE/RDATE/EXDATE and
RECURRENCE-ID overrides, not a flat list), UIDs are the duties' own, SEQUENCE follows
the definition. Past occurrences carry their acknowledgement state as RECURRENCE-ID
overrides ("✅ …" or "⚠ 1/3 …", with who confirmed and their answers).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from reminders.definitions.expand import occurrences
from reminders.definitions.holiday_policy import apply_holiday_policy
from reminders.definitions.model import Duty, recurrence_id_text
from reminders.definitions.roster import Roster, roster_fingerprint
from reminders.definitions.vtimezone import vtimezone
from reminders.i18n import t
from reminders.store.models import ACKNOWLEDGEMENT, OCCURRENCE
from reminders.text import shown
from reminders.timeutil import DEFAULT_TZ, from_naive_utc
from reminders.views.status import occurrence_status

REFRESH = "PT1H"
HOLIDAY_YEARS = 10  # a feed carries the holiday policy (EXDATEs, moves) from its history to this many years ahead
DUE_EVENT_LENGTH = timedelta(minutes=15)
EXACT_AHEAD = timedelta(days=3 * 366)  # instances whose exact end is spelled out, ahead of today  # a report with only a DUE is shown as this short event


@dataclass(frozen=True)
class Scope:
    kind: str  # commune | team | category
    value: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, _, value = text.partition(":")
        if kind not in ("commune", "team", "category") or not value:
            raise ValueError(f"feed scope must be commune:<id>, team:<id> or category:<name>, not {text!r}")
        return cls(kind, value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def teams(self, roster: Roster) -> list[str]:
        if self.kind == "commune":
            return [team.id for team in roster.teams_in(self.value)]
        if self.kind == "team":
            return [self.value] if self.value in roster.teams else []
        return list(roster.teams)

    def title(self, roster: Roster, language: str) -> str:
        if self.kind == "commune" and self.value in roster.communes:
            name = roster.communes[self.value].name
        elif self.kind == "team" and self.value in roster.teams:
            name = roster.teams[self.value].name
        else:
            name = self.value
        return t(language, "Duties · {name}", name=name)


def duties_in(scope: Scope, duties: dict[str, Duty], roster: Roster) -> list[Duty]:
    if scope.kind == "category":
        return [d for d in duties.values() if scope.value.lower() in (c.lower() for c in d.categories)]
    teams = [roster.teams[tid] for tid in scope.teams(roster)]
    return [d for d in duties.values() if any(d.applies_to(team.id, team.commune_id) for team in teams)]


def _split_rdates(timezone: icalendar.Timezone) -> None:
    """Mozilla's ical.js reads only the first value of a comma-separated RDATE inside a
    VTIMEZONE rule (how icalendar writes them): write one RDATE per transition instead."""
    for rule in timezone.subcomponents:
        values = rule.get("RDATE")
        if values is None:
            continue
        dates = [d.dt for lst in (values if isinstance(values, list) else [values]) for d in lst.dts]
        del rule["RDATE"]
        for value in dates:
            rule.add("RDATE", value)


def _timezones(names: set[str], today: date) -> list[icalendar.Timezone]:
    zones = []
    for name in sorted(names):
        zone = vtimezone(name, date(1970, 1, 1), today)
        _split_rdates(zone)
        zones.append(zone)
    return zones


def _tzids(component: icalendar.Component) -> set[str]:
    found = set()
    for prop in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE"):
        values = component.get(prop)
        for value in values if isinstance(values, list) else [values] if values is not None else []:
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid:
                found.add(str(tzid))
    return found


def build_feed(engine: Engine, duties: dict[str, Duty], roster: Roster, scope: Scope, now: datetime,
               *, language: str = "vi", history: timedelta = timedelta(days=400)) -> bytes:
    """The feed's iCalendar text."""
    cal = icalendar.Calendar()
    cal.add("PRODID", "-//reminders//Tổ công nghệ số cộng đồng//VI")
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", "PUBLISH")
    cal.add("X-WR-CALNAME", scope.title(roster, language))
    cal.add("X-WR-TIMEZONE", roster.timezone or DEFAULT_TZ)
    cal.add("REFRESH-INTERVAL", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", REFRESH)
    selected = sorted(duties_in(scope, duties, roster), key=lambda d: d.uid)
    teams = set(scope.teams(roster))
    overlays = _overlays(engine, roster, teams, now - history, now)
    components: list[icalendar.Component] = []
    zones: set[str] = set()
    for duty in selected:
        apply_holiday_policy(duty, (now - history).year, now.year + HOLIDAY_YEARS)
        master, *overrides = [_as_event(c) for c in duty.calendar.subcomponents if c.name == duty.component]
        cancelled = [o for o in overrides if _is_cancelled(o)]
        for dropped in cancelled:  # clients list a cancelled override anyway: leave it out of the rule
            master.add("EXDATE", _value(dropped, "RECURRENCE-ID"))
        gone = {_rid_key(_value(o, "RECURRENCE-ID"), duty) for o in cancelled}
        by_rid = {}
        for component in [master, *(o for o in overrides if not _is_cancelled(o))]:
            item = component
            if "DTSTAMP" in item:
                del item["DTSTAMP"]
            item.add("DTSTAMP", now)
            if "SEQUENCE" not in item:
                item.add("SEQUENCE", duty.sequence)
            zones |= _tzids(item)
            rid = item.get("RECURRENCE-ID")
            if rid is not None:
                by_rid[_rid_key(rid.dt, duty)] = item
            components.append(item)
        for extra in _exact_ends(duty, master, by_rid, now - history, now + EXACT_AHEAD, now):
            zones |= _tzids(extra)
            components.append(extra)
        for (uid, rid_text), state in overlays.items():
            if uid != duty.uid or rid_text in gone:
                continue
            override: icalendar.Component | None = by_rid.get(rid_text)
            if override is None:
                override = _override_from(master, duty, state)
                components.append(override)
            _mark(override, state, language, roster)
    for zone in _timezones(zones, now.date()):
        cal.add_component(zone)
    for component in components:
        cal.add_component(component)
    text: bytes = cal.to_ical()  # icalendar leaves to_ical unannotated
    return text


def _value(component: icalendar.Component, name: str) -> Any:
    """A date-time property's value (icalendar types its properties as a union of every kind)."""
    return component.get(name).dt


def _is_cancelled(component: icalendar.Component) -> bool:
    return str(component.get("STATUS", "")).upper() == "CANCELLED"


def _as_event(component: icalendar.Component) -> icalendar.Component:
    """A copy of a duty component as a VEVENT: events-only clients (Google Calendar, khal)
    drop a VTODO. A report with DTSTART and DUE spans them (its rule and alarms unchanged, DUE
    becoming DTEND); one with only a DUE is a short event at the due time, its end alarms
    counted from that start."""
    if component.name == "VEVENT":
        return copy.deepcopy(component)
    event = icalendar.Event()
    due = component.get("DUE")
    only_due = component.get("DTSTART") is None
    for name, value in component.property_items(recursive=False):
        if name in ("BEGIN", "END", "DUE", "COMPLETED", "PERCENT-COMPLETE"):
            continue
        event.add(name, copy.deepcopy(value), encode=False)
    if due is not None:
        if only_due:
            event.add("DTSTART", copy.deepcopy(due), encode=False)
            if isinstance(due.dt, datetime):
                event.add("DURATION", DUE_EVENT_LENGTH)
        elif "DURATION" not in event:
            event.add("DTEND", copy.deepcopy(due), encode=False)
    for alarm in component.walk("VALARM"):
        alarm = copy.deepcopy(alarm)
        trigger = alarm.get("TRIGGER")
        if only_due and trigger is not None and str(trigger.params.get("RELATED", "")).upper() == "END":
            del trigger.params["RELATED"]  # the end of a due-only report is its due time: the event's start
        event.add_component(alarm)
    return event


def _exact_ends(duty: Duty, master: icalendar.Component, by_rid: dict[str, icalendar.Component],
                since: datetime, until: datetime, now: datetime) -> list[icalendar.Component]:
    """A DURATION in hours is exact elapsed time (RFC 5545 3.3.6), but most clients add it to
    the wall clock: an instance across a DST change gets its exact DTEND written out, as a
    RECURRENCE-ID override (new ones returned, the admin's own corrected in place)."""
    length = duty.calendar.walk(duty.component)[0].get("DURATION")  # the admin's, not a report's 15 minutes
    if length is None or not (length.dt.seconds or length.dt.microseconds):
        return []
    added = []
    for occurrence in occurrences(duty, since, until):
        if occurrence.all_day or occurrence.cancelled:
            continue
        first = _value(master, "DTSTART")
        own = first.tzinfo if isinstance(first, datetime) and first.tzinfo else duty.zone
        local = occurrence.start.astimezone(own)
        wall = (local.replace(tzinfo=None) + length.dt).replace(tzinfo=own)  # what clients compute
        if wall.astimezone(UTC) == occurrence.end:
            continue
        item = by_rid.get(occurrence.recurrence_id)
        if item is None:
            item = copy.deepcopy(master)
            for prop in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTSTAMP"):
                item.pop(prop, None)
            item.add("RECURRENCE-ID", datetime.fromisoformat(occurrence.recurrence_id.replace("Z", "+00:00")))
            item.add("DTSTART", local)
            item.add("DTSTAMP", now)
            by_rid[occurrence.recurrence_id] = item
            added.append(item)
        elif item.get("DURATION") is None:
            continue  # the admin's override has its own DTEND
        item.pop("DURATION", None)
        item.add("DTEND", occurrence.end.astimezone(duty.zone))
    return added


def _rid_key(value: date | datetime, duty: Duty) -> str:

    return recurrence_id_text(value, duty.zone)


@dataclass
class _State:
    recurrence_id: str
    start: datetime
    end: datetime
    all_day: bool
    summary: str
    expected: int
    done: list[str]
    answers: list[str]


def _overlays(engine: Engine, roster: Roster, teams: set[str], since: datetime,
              until: datetime) -> dict[tuple[str, str], _State]:
    """Past occurrences with their acknowledgement state, summed over the feed's teams."""
    rows = [r for r in occurrence_status(engine, roster, since, until) if r.team_id in teams]
    if not rows:
        return {}
    with engine.connect() as conn:
        occs = {r.id: r for r in conn.execute(select(
            OCCURRENCE.c.id, OCCURRENCE.c.duty_uid, OCCURRENCE.c.recurrence_id, OCCURRENCE.c.start_at,
            OCCURRENCE.c.end_at, OCCURRENCE.c.all_day, OCCURRENCE.c.summary).where(
            OCCURRENCE.c.id.in_({r.occurrence_id for r in rows}))).all()}
    states: dict[tuple[str, str], _State] = {}
    for row in rows:
        occ = occs[row.occurrence_id]
        key = (occ.duty_uid, occ.recurrence_id)
        state = states.setdefault(key, _State(occ.recurrence_id, from_naive_utc(occ.start_at),
                                              from_naive_utc(occ.end_at), occ.all_day, occ.summary, 0, [], []))
        state.expected += len(row.expected)
        team = roster.teams.get(row.team_id)
        for person_id in row.acknowledged:
            name = shown(roster.people[person_id].name) if person_id in roster.people else person_id
            state.done.append(f"{name} ({team.name if team else row.team_id})")
            if row.answers.get(person_id):
                state.answers.append(f"{name}: {row.answers[person_id]}")
    return states


def _override_from(master: icalendar.Component, duty: Duty, state: _State) -> icalendar.Component:
    """A RECURRENCE-ID override of one instance, carrying its completion state."""
    item = icalendar.Event()  # the master is a VEVENT in a feed, whatever its source (_as_event)
    for prop in ("UID", "CATEGORIES", "LOCATION", "STATUS"):
        if prop in master:
            item[prop] = master[prop]
    zone = duty.zone
    if state.all_day:
        day = state.start.astimezone(zone).date()
        item.add("RECURRENCE-ID", day)
        item.add("DTSTART", day)
        item.add("DTEND", state.end.astimezone(zone).date())
    else:
        item.add("RECURRENCE-ID", datetime.fromisoformat(state.recurrence_id.replace("Z", "+00:00")))
        item.add("DTSTART", state.start.astimezone(zone))
        item.add("DTEND", max(state.end, state.start + DUE_EVENT_LENGTH).astimezone(zone))
    item.add("SEQUENCE", duty.sequence)
    item.add("DTSTAMP", datetime.now(ZoneInfo("UTC")))
    item.add("SUMMARY", state.summary)
    item.add("DESCRIPTION", str(master.get("DESCRIPTION", "")))
    for alarm in master.walk("VALARM"):
        item.add_component(copy.deepcopy(alarm))
    return item


def _mark(item: icalendar.Component, state: _State, language: str, roster: Roster) -> None:
    complete = state.expected and len(state.done) >= state.expected
    prefix = "✅" if complete else f"⚠ {len(state.done)}/{state.expected}"
    summary = str(item.get("SUMMARY", state.summary))
    del item["SUMMARY"]
    item.add("SUMMARY", f"{prefix} {summary}")
    lines = [str(item.pop("DESCRIPTION", "") or "")]
    lines.append(t(language, "Confirmed: {names}", names=", ".join(state.done) if state.done else "—"))
    if state.answers:
        lines.append(t(language, "Answers: {answers}", answers="; ".join(state.answers)))
    item.add("DESCRIPTION", "\n\n".join(line for line in lines if line))


def shown_fingerprint(roster: Roster) -> str:
    """What of the roster a feed or board shows: roster_fingerprint (what planning needs)
    plus every name people read -- communes, teams and people, with the teams' languages."""
    payload = ([(c.id, c.name) for c in roster.communes.values()]
               + [(tm.id, tm.name, tm.language) for tm in roster.teams.values()]
               + [(p.id, p.name) for p in roster.people.values()])
    return roster_fingerprint(roster) + hashlib.sha256(repr(payload).encode()).hexdigest()[:16]


def feed_version(engine: Engine, duties: dict[str, Duty], roster: Roster, roster_fingerprint: str,
                 scope: Scope) -> str:
    """Changes whenever the feed would: a definition, the roster, or an acknowledgement of one
    of the feed's teams (a corrected answer included)."""
    teams = scope.teams(roster)
    with engine.connect() as conn:
        acks = conn.execute(select(func.count(), func.max(ACKNOWLEDGEMENT.c.changed_at))
                            .where(ACKNOWLEDGEMENT.c.team_id.in_(teams))).one()
        occs = conn.execute(select(func.count(), func.max(OCCURRENCE.c.id))).one()
    parts = [str(scope), roster_fingerprint, *sorted(d.fingerprint for d in duties.values()),
             repr(tuple(acks)), repr(tuple(occs))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
