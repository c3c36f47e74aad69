"""The numbers behind reports and digests: who acknowledged, and what the check-ins add up to.

Read-only over the schedule. Each function runs a few grouped queries (per duty, team and
person, never per occurrence), so a month of a commune's duties costs the same handful of
round trips on SQLite and PostgreSQL.

Who is *expected* to acknowledge follows the duty's X-REMINDER-TO, as `planner.recipients`
addresses it: every member of the team for `group` and `members`, the leaders for `leader`.
Only duties with X-REMINDER-ACK TRUE count, and only occurrences still scheduled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from reminders.definitions.audience import expected_people
from reminders.definitions.model import Duty
from reminders.definitions.policy import CHECKIN_GRACE
from reminders.definitions.roster import Roster, Team
from reminders.errors import RemindersError
from reminders.kinds import Kind, OccurrenceStatus
from reminders.store.models import ACKNOWLEDGEMENT, OCCURRENCE
from reminders.text import shown
from reminders.timeutil import as_utc, from_naive_utc


class UnknownScope(RemindersError):
    """A report was asked for a team or commune that is not on the roster."""


@dataclass
class TeamCompletion:
    """How one team did over a period: acknowledgements against what was expected."""

    team_id: str
    team_name: str
    occurrences: int = 0  # duty occurrences that applied to this team
    expected: int = 0  # occurrence x expected person
    acknowledged: int = 0  # of those, acknowledged (by the person or on their behalf)
    on_behalf: int = 0  # acknowledged by someone else (a leader, "đã xác nhận qua điện thoại")
    late: int = 0  # acknowledged after the occurrence had ended (see `on_time_until`)
    missing: dict[str, int] = field(default_factory=dict)  # person id -> occurrences not acknowledged
    commune_id: str = ""

    @property
    def rate(self) -> float | None:
        """Share acknowledged, 0..1; None when nothing was expected of the team."""
        return self.acknowledged / self.expected if self.expected else None


@dataclass(frozen=True)
class CheckinTotal:
    """The sum of one team's numeric check-in answers for one occurrence.

    `answers == 0` means the team gave no answer (the row is there so a report shows the gap).
    """

    duty_uid: str
    summary: str
    day: date  # local day of the occurrence in the team's time zone
    team_id: str
    total: float
    answers: int
    occurrence_id: int = 0


@dataclass(frozen=True)
class CheckinAnswer:
    """One person's check-in answer, whatever its type (number, yes/no, text)."""

    duty_uid: str
    summary: str
    day: date
    team_id: str
    person_id: str
    answer: str
    number: float | None
    at: datetime
    recorded_by: str | None  # set when someone else answered for the person


def scope_teams(roster: Roster, *, commune: str | None = None, team: str | None = None) -> list[Team]:
    """The teams a report covers; UnknownScope names a team or commune not on the roster."""
    if commune is not None and commune not in roster.communes:
        raise UnknownScope(f"no commune '{commune}' on the roster")
    if team is not None:
        found = roster.teams.get(team)
        if found is None:
            raise UnknownScope(f"no team '{team}' on the roster")
        if commune is not None and found.commune_id != commune:
            raise UnknownScope(f"team '{team}' is not in commune '{commune}'")
        return [found]
    # The roster's order: the admin's own, which Vietnamese names sort badly without ICU.
    return list(roster.teams_in(commune) if commune is not None else roster.teams.values())


def on_time_until(duty: Duty, recurrence_id: str, start: datetime, end: datetime) -> datetime:
    """Until when an acknowledgement counts as on time: the occurrence's end -- unless the
    duty asks its check-in at or after the end (the October campaign asks at 19:30, as the
    day ends): then until that question closes (CHECKIN_GRACE), or every answer to
    it would be late. A report due at 17:00 and asked for at 14:00 is late after 17:00."""
    alarms = duty.override_alarms.get(recurrence_id, duty.alarms)
    asked_after = [due for due in (a.due(start, end) for a in alarms if a.kind is Kind.CHECKIN) if due >= end]
    return max(asked_after) + CHECKIN_GRACE if asked_after else end


def _occurrence_filter(uids: list[str], start: datetime, end: datetime,
                       now: datetime | None) -> list[ColumnElement[bool]]:
    where = [OCCURRENCE.c.duty_uid.in_(uids), OCCURRENCE.c.status == OccurrenceStatus.SCHEDULED,
             OCCURRENCE.c.start_at >= as_utc(start), OCCURRENCE.c.start_at < as_utc(end)]
    if now is not None:  # an occurrence not started yet cannot be missing
        where.append(OCCURRENCE.c.start_at < as_utc(now))
    return where


def _team_filter(teams: list[Team], roster: Roster) -> list[ColumnElement[bool]]:
    if len(teams) == len(roster.teams):
        return []  # every team: no IN list of thousands of ids
    return [ACKNOWLEDGEMENT.c.team_id.in_([t.id for t in teams])]


def completion(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, start: datetime,
               end: datetime, commune: str | None = None, team: str | None = None,
               now: datetime | None = None) -> list[TeamCompletion]:
    """Per team, over occurrences starting in [start, end): expected, acknowledged, late,
    on behalf, and who is missing how often. With `now`, occurrences from then on are left out."""
    teams = scope_teams(roster, commune=commune, team=team)
    ack_duties = {uid: d for uid, d in duties.items() if d.ack}
    result = {t.id: TeamCompletion(t.id, t.name, commune_id=t.commune_id) for t in teams}
    if not ack_duties or not teams:
        return list(result.values())
    where = _occurrence_filter(sorted(ack_duties), start, end, now)
    ack = ACKNOWLEDGEMENT.c
    with engine.connect() as conn:
        # Occurrences are per duty, not per team: a month has tens of them, a province as many.
        occs = conn.execute(select(OCCURRENCE.c.id, OCCURRENCE.c.duty_uid, OCCURRENCE.c.recurrence_id,
                                   OCCURRENCE.c.start_at, OCCURRENCE.c.end_at).where(*where)).all()
        counts: defaultdict[str, int] = defaultdict(int)
        windows = {}
        for occ in occs:
            counts[occ.duty_uid] += 1
            end_at = from_naive_utc(occ.end_at)
            until = on_time_until(ack_duties[occ.duty_uid], occ.recurrence_id, from_naive_utc(occ.start_at), end_at)
            if until != end_at:
                windows[occ.id] = literal(as_utc(until), OCCURRENCE.c.end_at.type)
        deadline = case(windows, value=OCCURRENCE.c.id, else_=OCCURRENCE.c.end_at) if windows \
            else OCCURRENCE.c.end_at
        rows = conn.execute(
            select(OCCURRENCE.c.duty_uid, ack.team_id, ack.person_id,
                   func.count(ack.id).label("done"),
                   func.sum(case((ack.at > deadline, 1), else_=0)).label("late"),
                   func.sum(case((and_(ack.recorded_by.is_not(None), ack.recorded_by != ack.person_id), 1),
                                 else_=0)).label("on_behalf"))
            .join(OCCURRENCE, OCCURRENCE.c.id == ack.occurrence_id)
            .where(*where, *_team_filter(teams, roster))
            .group_by(OCCURRENCE.c.duty_uid, ack.team_id, ack.person_id)).all()
    done = {(r.duty_uid, r.team_id, r.person_id): r for r in rows}
    for t in teams:
        entry = result[t.id]
        missing: dict[str, int] = defaultdict(int)
        for uid, duty in ack_duties.items():
            n = counts.get(uid, 0)
            if not n or not duty.applies_to(t.id, t.commune_id):
                continue
            people = expected_people(duty, t, roster)
            entry.occurrences += n
            entry.expected += n * len(people)
            for pid in people:
                row = done.get((uid, t.id, pid))
                got = int(row.done) if row else 0
                if row:
                    entry.acknowledged += got
                    entry.late += int(row.late or 0)
                    entry.on_behalf += int(row.on_behalf or 0)
                if n > got:
                    missing[pid] += n - got
        entry.missing = {pid: missing[pid] for pid in t.member_ids if missing.get(pid)}
    return list(result.values())


def _numeric_checkins(duties: Mapping[str, Duty]) -> dict[str, Duty]:
    return {uid: d for uid, d in duties.items() if d.checkin is not None and d.checkin.answer_type == "number"}


def checkin_totals(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, start: datetime,
                   end: datetime, commune: str | None = None, team: str | None = None,
                   now: datetime | None = None) -> list[CheckinTotal]:
    """Per numeric check-in occurrence and team: the sum of the answers and how many answered.

    Every team the duty applies to gets a row, answered or not. Sorted by duty, day, team.
    """
    teams = scope_teams(roster, commune=commune, team=team)
    numeric = _numeric_checkins(duties)
    if not numeric or not teams:
        return []
    where = _occurrence_filter(sorted(numeric), start, end, now)
    ack = ACKNOWLEDGEMENT.c
    with engine.connect() as conn:
        occs = conn.execute(select(OCCURRENCE.c.id, OCCURRENCE.c.duty_uid, OCCURRENCE.c.summary,
                                   OCCURRENCE.c.start_at).where(*where)).all()
        sums = conn.execute(
            select(ack.occurrence_id, ack.team_id, func.sum(ack.answer_number).label("total"),
                   func.count(ack.answer_number).label("answers"))
            .join(OCCURRENCE, OCCURRENCE.c.id == ack.occurrence_id)
            .where(*where, *_team_filter(teams, roster), ack.answer_number.is_not(None))
            .group_by(ack.occurrence_id, ack.team_id)).all()
    found = {(r.occurrence_id, r.team_id): (float(r.total), int(r.answers)) for r in sums}
    zones = {t.id: ZoneInfo(t.timezone) for t in teams}
    result = []
    for occ in occs:
        duty = numeric[occ.duty_uid]
        start_at = from_naive_utc(occ.start_at)
        for t in teams:
            if not duty.applies_to(t.id, t.commune_id):
                continue
            total, answers = found.get((occ.id, t.id), (0.0, 0))
            result.append(CheckinTotal(occ.duty_uid, occ.summary, start_at.astimezone(zones[t.id]).date(),
                                       t.id, total, answers, occ.id))
    order = {t.id: i for i, t in enumerate(teams)}
    result.sort(key=lambda r: (r.duty_uid, r.day, order[r.team_id]))
    return result


def checkin_answers(engine: Engine, roster: Roster, duties: Mapping[str, Duty], *, start: datetime,
                    end: datetime, commune: str | None = None, team: str | None = None,
                    now: datetime | None = None) -> list[CheckinAnswer]:
    """Every check-in answer given (numbers, yes/no, text): "the numbers each team gave"."""
    teams = scope_teams(roster, commune=commune, team=team)
    asking = {uid: d for uid, d in duties.items() if d.checkin is not None}
    if not asking or not teams:
        return []
    ack = ACKNOWLEDGEMENT.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(OCCURRENCE.c.duty_uid, OCCURRENCE.c.summary, OCCURRENCE.c.start_at, ack.team_id,
                   ack.person_id, ack.answer, ack.answer_number, ack.at, ack.recorded_by)
            .join(OCCURRENCE, OCCURRENCE.c.id == ack.occurrence_id)
            .where(*_occurrence_filter(sorted(asking), start, end, now), *_team_filter(teams, roster),
                   ack.answer.is_not(None))).all()
    order = {t.id: i for i, t in enumerate(teams)}
    zones = {t.id: ZoneInfo(t.timezone) for t in teams}
    result = [CheckinAnswer(r.duty_uid, r.summary, from_naive_utc(r.start_at).astimezone(zones[r.team_id]).date(),
                            r.team_id, r.person_id, shown(r.answer), r.answer_number, from_naive_utc(r.at),
                            r.recorded_by if r.recorded_by != r.person_id else None)
              for r in rows if r.team_id in order]
    result.sort(key=lambda a: (a.day, a.duty_uid, order[a.team_id], a.person_id))
    return result
