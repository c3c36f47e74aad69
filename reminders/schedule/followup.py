"""Follow-ups: nobody is forgotten.

Run by the scheduler on every tick, before dispatch. For each occurrence and team whose
reminders have started going out, on a duty that asks for acknowledgements, it writes the
follow-ups of the duty's policy (X-REMINDER-FOLLOWUP) into the outbox, counted from the
team's last reminder of that occurrence:

    nudge-<n>          a personal message to each member who has not acknowledged
                       (also for group-addressed duties: nobody is named in a group chat
                       of households; each missing member is nudged privately)
    escalate-leader    one message to each team leader naming who is still missing
    escalate-commune   one message to each commune official listing every team of the
                       commune with someone still missing (one per occurrence, not per team)
    summary            when a campaign's last occurrence is over (a bounded RRULE, or the
                       last day of a daily run such as 1-10 October every year): the results,
                       to each team leader and commune official
    digest:<week>      the week's numbers, the next Monday 08:00, to leaders and officials
                       (a row of no occurrence: occurrence_id NULL, unique per recipient+kind;
                       planned as the week starts, counted when sent)

Rows are keyed like every delivery (occurrence, recipient, kind), so the pass is idempotent
and a crash between two ticks loses nothing. Whom an escalation names is decided when it is
sent (reminders.jobs.followup_messages): if by then everyone has answered, nothing is sent and the row
becomes `cancelled`. The pass also cancels such rows just before they are due, and waits
for a member's snooze. All times keep the team's quiet hours.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, update
from sqlalchemy.engine import Connection

from reminders.definitions.audience import people_reached
from reminders.definitions.expand import occurrences, rules_end
from reminders.definitions.model import Duty, Occurrence
from reminders.definitions.quiet import QuietHours, place
from reminders.definitions.roster import Commune, Person, Roster, Team
from reminders.kinds import DeliveryStatus, Kind, OccurrenceStatus, kind_of, numbered
from reminders.runtime import Runtime
from reminders.store.audit import AuditEvent, record_events
from reminders.store.models import ACKNOWLEDGEMENT, DELIVERY, OCCURRENCE, AnyRow
from reminders.store.upsert import dialect_insert
from reminders.timeutil import as_utc, from_naive_utc

log = logging.getLogger(__name__)

NUDGE_GRACE = timedelta(hours=12)  # a nudge is worth sending until this long after the occurrence
ESCALATION_TTL = timedelta(days=1)  # an escalation not sent within a day of its time is dropped
SCAN_BACK = timedelta(days=2)  # how far back the pass looks for occurrences whose reminders went out
DIGEST_WEEKDAY, DIGEST_AT = 0, time(8, 0)  # Monday 08:00 local: last week's digest
SINCE_MARGIN = timedelta(minutes=10)  # sends recorded after the pass that saw them due
# A pass after a burst plans the follow-ups of this many (occurrence, team) pairs at a time:
# at 50,000 sent since the last pass, planning them all at once took the scheduler past 150 MB.
PLAN_CHUNK = 2_000
SUMMARY_AFTER = timedelta(hours=12)  # a campaign's summary: this long after its last occurrence ends
CAMPAIGN_LOOKAHEAD = timedelta(days=400)  # "no occurrence within this" means the campaign is over
# A run of occurrences at most RUN_GAP apart, followed by none for RUN_AFTER, is a campaign
# too (a duty skipped over a holiday is not: its gap is shorter than RUN_AFTER).
RUN_GAP = timedelta(hours=36)
RUN_AFTER = timedelta(days=30)
RUN_LOOKBACK = timedelta(days=62)
def _alarm_kind() -> ColumnElement[bool]:
    """Delivery kinds of a duty's own reminders (not follow-ups, snoozes or notices)."""
    return and_(or_(DELIVERY.c.kind.startswith(f"{Kind.REMINDER}-"), DELIVERY.c.kind.startswith(f"{Kind.CHECKIN}-")),
                not_(DELIVERY.c.kind.contains("@")))


def _place_anytime(due: datetime, quiet: QuietHours | None, zone: tzinfo) -> datetime:
    """`place` with no deadline, which always finds a moment: `due`, or the end of the
    quiet hours around it."""
    placed = place(due, quiet, zone)
    if placed is None:  # cannot happen: without a deadline, place() never gives up
        raise AssertionError(f"no moment found for {due} without a deadline")
    return placed


def officials(roster: Roster, commune: Commune | None) -> list[Person]:
    """Whom a commune escalation goes to: its officials (role official), else its admins."""
    if commune is None:
        return []
    people = [roster.people[p] for p in commune.official_ids if p in roster.people]
    return [p for p in people if p.role == "official"] or people


@dataclass
class TeamState:
    """Who was expected to acknowledge one occurrence in one team, and who did."""

    expected: list[str]
    acknowledged: set[str]
    anchor: datetime  # the team's last reminder of the occurrence (planned time)
    any_sent: bool

    @property
    def missing(self) -> list[str]:
        return [p for p in self.expected if p not in self.acknowledged]


def team_states(conn: Connection, roster: Roster, occurrence_ids: Iterable[int], *,
                team_ids: Iterable[str] | None = None) -> dict[tuple[int, str], TeamState]:
    """(occurrence, team) -> TeamState, from the occurrence's own reminders: two queries.

    With `team_ids`, only those teams: the rows are then found by the
    (occurrence, recipient) and (occurrence, person) keys, so rendering one nudge does not
    read the reminders of every team of the province."""
    ids = list(set(occurrence_ids))
    if not ids:
        return {}
    query = select(DELIVERY.c.occurrence_id, DELIVERY.c.team_id, DELIVERY.c.recipient, DELIVERY.c.due_at,
                   DELIVERY.c.status).where(DELIVERY.c.occurrence_id.in_(ids), _alarm_kind(),
                                             DELIVERY.c.status != DeliveryStatus.CANCELLED)
    wanted = None if team_ids is None else set(team_ids)
    people: set[str] = set()
    if wanted is not None:
        teams = [roster.teams[tid] for tid in wanted if tid in roster.teams]
        people = {p for team in teams for p in team.member_ids}
        query = query.where(DELIVERY.c.team_id.in_(wanted), DELIVERY.c.recipient.in_(
            [team.recipient_key for team in teams] + [f"person:{p}" for p in people]))
    states: dict[tuple[int, str], TeamState] = {}
    for row in conn.execute(query):
        team = roster.teams.get(row.team_id)
        if team is None:
            continue
        addressed = people_reached(row.recipient, team)
        if not addressed:
            continue  # no longer on the team: nobody to nudge or to name
        due = from_naive_utc(row.due_at)
        state = states.setdefault((row.occurrence_id, row.team_id), TeamState([], set(), due, False))
        state.expected.extend(p for p in addressed if p not in state.expected)
        state.anchor = max(state.anchor, due)
        state.any_sent = state.any_sent or row.status == DeliveryStatus.SENT
    acks = select(ACKNOWLEDGEMENT.c.occurrence_id, ACKNOWLEDGEMENT.c.person_id).where(
        ACKNOWLEDGEMENT.c.occurrence_id.in_(ids))
    if wanted is not None:
        acks = acks.where(ACKNOWLEDGEMENT.c.person_id.in_(people or {""}))
    by_occurrence: dict[int, set[str]] = defaultdict(set)
    for occ_id, person_id in conn.execute(acks):
        by_occurrence[occ_id].add(person_id)
    for (occ_id, _), state in states.items():
        state.acknowledged = by_occurrence[occ_id] & set(state.expected)
    return states


def commune_missing(states: dict[tuple[int, str], TeamState], roster: Roster
                    ) -> dict[tuple[int, str], list[tuple[str, TeamState]]]:
    """(occurrence, commune) -> [(team, state)] of the teams with someone missing: one walk
    over the states, whatever the number of commune escalations looking at them."""
    found: dict[tuple[int, str], list[tuple[str, TeamState]]] = defaultdict(list)
    for (occ_id, tid), state in states.items():
        team = roster.teams.get(tid)
        if team is not None and state.missing:
            found[(occ_id, team.commune_id)].append((tid, state))
    if found:  # the roster's order (the admin's own, as in the report)
        order = {tid: n for n, tid in enumerate(roster.teams)}
        for teams in found.values():
            teams.sort(key=lambda item: order[item[0]])
    return found


@dataclass
class FollowUpReport:
    planned: int = 0
    cancelled: int = 0
    postponed: int = 0
    digests: int = 0


def followup_pass(rt: Runtime, now: datetime, *, lookahead: timedelta = timedelta(seconds=30)) -> FollowUpReport:
    """One pass: plan the follow-ups of newly started occurrences, settle those due now, and
    plan the weekly digest when its time comes. Cheap when there is nothing to do."""
    report = FollowUpReport()
    duties = {uid: d for uid, d in rt.duties.items() if d.ack and d.followup.enabled}
    # Only deliveries sent since the last pass (less a margin for outcomes recorded late) are
    # looked at again; a fresh process looks back SCAN_BACK once. Kept in rt.state.
    last_pass = rt.state.get("followup_since")
    since = last_pass if isinstance(last_pass, datetime) else None
    if duties:
        with rt.engine.begin() as conn:
            report.planned += _plan_new(conn, rt.roster, duties, now, since)
        with rt.engine.begin() as conn:
            _settle(conn, rt.roster, rt.duties, now, lookahead, report)
    rt.state["followup_since"] = now - SINCE_MARGIN
    week = week_of(now.astimezone(ZoneInfo(rt.roster.timezone)).date())[1]
    if rt.state.get("followup_digest_week") != week:
        with rt.engine.begin() as conn:
            report.digests = plan_digest(conn, rt.roster, now)
        rt.state["followup_digest_week"] = week
    return report


# -- planning ------------------------------------------------------------------------

def _plan_new(conn: Connection, roster: Roster, duties: dict[str, Duty], now: datetime,
              since: datetime | None = None) -> int:
    """Follow-ups for (occurrence, team) pairs with a reminder sent (since `since`) or failed
    for good, and none planned yet. Two indexed queries: recent sent reminders, then the follow-ups of their
    occurrences."""
    # A reminder that failed for good counts too: when the team's group removed the bot, its
    # members are nudged privately rather than forgotten. Failed rows have no sent_at, so
    # they are looked at for SCAN_BACK; the pairs already planned are skipped below.
    query = (select(DELIVERY.c.occurrence_id, DELIVERY.c.team_id).distinct()
             .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
             .where(DELIVERY.c.status.in_((DeliveryStatus.SENT, DeliveryStatus.FAILED)), _alarm_kind(),
                    DELIVERY.c.due_at >= as_utc(now - SCAN_BACK),
                    OCCURRENCE.c.status == OccurrenceStatus.SCHEDULED, OCCURRENCE.c.duty_uid.in_(list(duties))))
    if since is not None:
        query = query.where(or_(DELIVERY.c.sent_at >= as_utc(since), DELIVERY.c.status == DeliveryStatus.FAILED))
    found = {tuple(p) for p in conn.execute(query)}
    if not found:
        return 0
    planned = set(conn.execute(select(DELIVERY.c.occurrence_id, DELIVERY.c.team_id).distinct().where(
        DELIVERY.c.occurrence_id.in_({occ for occ, _ in found}),
        or_(DELIVERY.c.kind.startswith(f"{Kind.NUDGE}-"), DELIVERY.c.kind.startswith("escalate-")))).all())
    pairs = sorted(found - {tuple(p) for p in planned})
    return sum(_plan_pairs(conn, roster, duties, chunk) for chunk in _whole_occurrences(pairs, PLAN_CHUNK))


def _whole_occurrences(pairs: list[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    """`pairs` (sorted by occurrence) in runs of about `size`, an occurrence's pairs never split
    (its commune escalation is planned once, from all its teams)."""
    chunk: list[tuple[int, str]] = []
    for pair in pairs:
        if len(chunk) >= size and pair[0] != chunk[-1][0]:
            yield chunk
            chunk = []
        chunk.append(pair)
    if chunk:
        yield chunk


def _plan_pairs(conn: Connection, roster: Roster, duties: dict[str, Duty], pairs: list[tuple[int, str]]) -> int:
    """The follow-up rows of these (occurrence, team) pairs, inserted; returns how many are pending."""
    occurrences = {o.id: o for o in conn.execute(select(
        OCCURRENCE.c.id, OCCURRENCE.c.duty_uid, OCCURRENCE.c.start_at, OCCURRENCE.c.end_at)
        .where(OCCURRENCE.c.id.in_({occ for occ, _ in pairs})))}
    states = team_states(conn, roster, occurrences)
    rows: list[dict[str, object]] = []
    ends_campaign: dict[int, bool] = {}  # per occurrence, not per team: it expands the duty
    for occ_id, team_id in pairs:
        team, state, occ = roster.teams.get(team_id), states.get((occ_id, team_id)), occurrences[occ_id]
        if team is None or state is None:
            continue
        duty = duties[occ.duty_uid]
        rows.extend(_pair_rows(roster, duty, occ, team, state))
        if occ_id not in ends_campaign:
            ends_campaign[occ_id] = (is_bounded(duty) and _is_last(duty, occ)) or _ends_run(duty, occ)
        if ends_campaign[occ_id]:
            rows.extend(_summary_rows(roster, occ, team))
    # A commune's escalation and summary come once per occurrence, not once per team.
    seen: set[tuple[object, object, object]] = set()
    unique: list[dict[str, object]] = []
    for r in rows:
        key = (r["occurrence_id"], r["recipient"], r["kind"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    rows = unique
    if rows:
        stmt = dialect_insert(conn, DELIVERY).on_conflict_do_nothing(index_elements=["occurrence_id", "recipient", "kind"])
        conn.execute(stmt, rows)
    return sum(1 for r in rows if r["status"] == DeliveryStatus.PENDING)


def _row(occ_id: int | None, recipient: str, team_id: str, kind: str, due: datetime, expires: datetime,
         cancelled: bool = False) -> dict[str, object]:
    return {"occurrence_id": occ_id, "recipient": recipient, "team_id": team_id, "kind": kind,
            "due_at": as_utc(due), "expires_at": as_utc(expires), "attempts": 0,
            "status": DeliveryStatus.CANCELLED if cancelled else DeliveryStatus.PENDING,
            "error": "already confirmed" if cancelled else None}


def _pair_rows(roster: Roster, duty: Duty, occ: AnyRow, team: Team, state: TeamState) -> list[dict[str, object]]:
    policy, zone = duty.followup, ZoneInfo(team.timezone)
    anchor, end = state.anchor, from_naive_utc(occ.end_at)
    rows: list[dict[str, object]] = []
    nudge_expiry = max(end, anchor) + NUDGE_GRACE
    for n in range(1, policy.times + 1):
        due = place(anchor + policy.nudge * n, team.quiet, zone, deadline=nudge_expiry, not_before=anchor)
        if due is None:
            continue
        for person_id in state.expected:
            rows.append(_row(occ.id, f"person:{person_id}", team.id, numbered(Kind.NUDGE, n), due, nudge_expiry,
                             cancelled=person_id in state.acknowledged))
    leaders = roster.leaders(team)
    if policy.leader is not None and any(p not in {x.id for x in leaders} for p in state.expected):
        due = _place_anytime(anchor + policy.leader, team.quiet, zone)
        for leader in leaders:
            rows.append(_row(occ.id, f"person:{leader.id}", team.id, Kind.ESCALATE_LEADER, due,
                             due + ESCALATION_TTL, cancelled=not state.missing))
    commune = roster.communes.get(team.commune_id)
    if policy.commune is not None and commune is not None:
        due = _place_anytime(anchor + policy.commune, commune.quiet, ZoneInfo(commune.timezone))
        for official in officials(roster, commune):
            rows.append(_row(occ.id, f"person:{official.id}", team.id, Kind.ESCALATE_COMMUNE, due,
                             due + ESCALATION_TTL))
    return rows


def is_bounded(duty: Duty) -> bool:
    """A campaign: every RRULE of the duty ends (COUNT or UNTIL)."""
    master = duty.calendar.walk(duty.component)[0]
    return master.get("RRULE") is not None and rules_end(master)


def _is_last(duty: Duty, occ: AnyRow) -> bool:
    end = from_naive_utc(occ.end_at)
    later = [o for o in occurrences(duty, end, end + CAMPAIGN_LOOKAHEAD)
             if not o.cancelled and o.start > from_naive_utc(occ.start_at)]
    return not later


def campaign_run(duty: Duty, start: datetime, end: datetime) -> list[Occurrence]:
    """The campaign run an occurrence belongs to: the occurrences before and after it with
    no more than RUN_GAP between neighbours (the days of a 1-10 October campaign)."""
    found = sorted((o for o in occurrences(duty, start - RUN_LOOKBACK, end + RUN_AFTER)
                    if not o.cancelled), key=lambda o: o.start)
    index = next((i for i, o in enumerate(found) if o.start == start), None)
    if index is None:
        return []
    first = last = index
    while first > 0 and found[first].start - found[first - 1].start <= RUN_GAP:
        first -= 1
    while last + 1 < len(found) and found[last + 1].start - found[last].start <= RUN_GAP:
        last += 1
    return found[first:last + 1]


def _ends_run(duty: Duty, occ: AnyRow) -> bool:
    """A daily campaign that comes back every year (FREQ=YEARLY;BYMONTHDAY=1,...,10) is a
    bounded campaign each time: its last day is followed by nothing for RUN_AFTER."""
    start, end = from_naive_utc(occ.start_at), from_naive_utc(occ.end_at)
    run = campaign_run(duty, start, end)
    if len(run) < 2 or run[-1].start != start:
        return False
    return not [o for o in occurrences(duty, end, start + RUN_AFTER) if not o.cancelled and o.start > start]


def _summary_rows(roster: Roster, occ: AnyRow, team: Team) -> list[dict[str, object]]:
    """The campaign's completion summary, planned with its last occurrence's follow-ups."""
    commune = roster.communes.get(team.commune_id)
    quiet, zone = (commune.quiet, ZoneInfo(commune.timezone)) if commune else (team.quiet, ZoneInfo(team.timezone))
    due = _place_anytime(from_naive_utc(occ.end_at) + SUMMARY_AFTER, quiet, zone)
    people = [*roster.leaders(team), *officials(roster, commune)]
    return [_row(occ.id, f"person:{p.id}", team.id, Kind.SUMMARY, due, due + timedelta(days=3)) for p in people]


# -- settling what is due ----------------------------------------------------------------

def _settle(conn: Connection, roster: Roster, duties: Mapping[str, Duty], now: datetime, lookahead: timedelta,
            report: FollowUpReport) -> None:
    """Pending follow-ups due now: cancel those with nothing left to say, wait for snoozes."""
    due_rows = conn.execute(
        select(DELIVERY.c.id, DELIVERY.c.occurrence_id, DELIVERY.c.team_id, DELIVERY.c.recipient,
               DELIVERY.c.kind, DELIVERY.c.expires_at, DELIVERY.c.due_at)
        .where(DELIVERY.c.status == DeliveryStatus.PENDING, DELIVERY.c.due_at <= as_utc(now + lookahead),
               or_(DELIVERY.c.kind.startswith(f"{Kind.NUDGE}-"), DELIVERY.c.kind.startswith("escalate-")))
        .order_by(DELIVERY.c.due_at, DELIVERY.c.id)).all()
    if not due_rows:
        return
    occ_ids = {r.occurrence_id for r in due_rows}
    states = team_states(conn, roster, occ_ids)
    snoozes = _snoozes(conn, occ_ids, now)
    duty_of: dict[int, str] = dict(conn.execute(select(OCCURRENCE.c.id, OCCURRENCE.c.duty_uid)
                                                .where(OCCURRENCE.c.id.in_(occ_ids))).all())
    by_commune = commune_missing(states, roster)
    cancelled: list[int] = []
    events: list[AuditEvent] = []
    communes: list[AnyRow] = []
    for row in due_rows:
        missing = missing_for(row, states, roster, by_commune)
        if not missing:
            cancelled.append(row.id)
            events.append(AuditEvent(now, "followup-cancelled", row.occurrence_id, row.id, row.team_id,
                                     actor="system", recipient=row.recipient,
                                     detail=f"{row.kind}: everyone has answered"))
            continue
        uid = duty_of.get(row.occurrence_id)
        duty = duties.get(uid) if uid is not None else None
        if kind_of(row.kind) is Kind.ESCALATE_COMMUNE and "@" not in row.kind:
            communes.append(row)  # after the leaders' escalations have settled, below
        waiting = [snoozes[(row.occurrence_id, p)] for p in missing if (row.occurrence_id, p) in snoozes]
        team = roster.teams.get(row.team_id)
        # A snoozed follow-up ("nudge-1@…") is itself the snooze: it goes out when it is due.
        if waiting and duty is not None and team is not None and kind_of(row.kind) is not Kind.ESCALATE_COMMUNE \
                and "@" not in row.kind:
            # Snoozed: wait for the snoozed reminder, and a nudge interval after it.
            expires = from_naive_utc(row.expires_at)
            later = place(max(waiting) + duty.followup.nudge, team.quiet, ZoneInfo(team.timezone),
                          deadline=expires, not_before=now)
            if later is None or later >= expires:
                later = expires - timedelta(minutes=1)
            conn.execute(update(DELIVERY).where(DELIVERY.c.id == row.id, DELIVERY.c.status == DeliveryStatus.PENDING)
                         .values(due_at=as_utc(later)))
            report.postponed += 1
    report.postponed += _after_the_leaders(conn, roster, duties, duty_of, communes, by_commune)
    if cancelled:
        conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_(cancelled), DELIVERY.c.status == DeliveryStatus.PENDING)
                     .values(status=DeliveryStatus.CANCELLED, error="everyone has answered"))
        record_events(conn, events)
        report.cancelled += len(cancelled)


def _after_the_leaders(conn: Connection, roster: Roster, duties: Mapping[str, Duty], duty_of: Mapping[int, str],
                       rows: list[AnyRow], by_commune: dict[tuple[int, str], list[tuple[str, TeamState]]]) -> int:
    """Escalation keeps its order: a commune official hears of a team only after its leader
    did. A commune escalation due before a leader's escalation of the same occurrence that
    is still to go (a member's snooze moved it) waits for it, and then for the smaller of a
    nudge interval and the policy's distance between the two steps -- time for the leader
    to act. Returns how many were moved."""
    if not rows:
        return 0
    # One query for all of them: the latest leader escalation still to go, per (occurrence, team).
    pending = conn.execute(select(DELIVERY.c.occurrence_id, DELIVERY.c.team_id, func.max(DELIVERY.c.due_at))
                           .where(DELIVERY.c.occurrence_id.in_({r.occurrence_id for r in rows}),
                                  DELIVERY.c.kind.startswith(Kind.ESCALATE_LEADER),
                                  DELIVERY.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)))
                           .group_by(DELIVERY.c.occurrence_id, DELIVERY.c.team_id)).all()
    leader_due = {(occ_id, team_id): from_naive_utc(due) for occ_id, team_id, due in pending}
    moved = 0
    for row in rows:
        duty = duties.get(duty_of.get(row.occurrence_id, ""))
        team = roster.teams.get(row.team_id)
        commune = roster.communes.get(team.commune_id) if team is not None else None
        if duty is None or commune is None:
            continue
        dues = [leader_due[key] for tid, _ in by_commune.get((row.occurrence_id, commune.id), [])
                if (key := (row.occurrence_id, tid)) in leader_due]
        if not dues:
            continue
        policy = duty.followup
        spacing = policy.nudge
        if policy.leader is not None and policy.commune is not None:
            spacing = min(spacing, max(policy.commune - policy.leader, timedelta(0)))
        wanted = _place_anytime(max(dues) + spacing, commune.quiet, ZoneInfo(commune.timezone))
        if from_naive_utc(row.due_at) >= wanted:
            continue
        expires = max(from_naive_utc(row.expires_at), wanted + ESCALATION_TTL)
        moved += conn.execute(update(DELIVERY).where(DELIVERY.c.id == row.id,
                                                     DELIVERY.c.status == DeliveryStatus.PENDING)
                              .values(due_at=as_utc(wanted), expires_at=as_utc(expires))).rowcount
    return moved


def _snoozes(conn: Connection, occ_ids: set[int], now: datetime) -> dict[tuple[int, str], datetime]:
    """(occurrence, person) -> when their snoozed reminder comes back, for snoozes still ahead."""
    rows = conn.execute(select(DELIVERY.c.occurrence_id, DELIVERY.c.recipient, DELIVERY.c.due_at)
                        .where(DELIVERY.c.occurrence_id.in_(occ_ids), DELIVERY.c.kind.contains("@"),
                               DELIVERY.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)),
                               DELIVERY.c.due_at > as_utc(now)))
    found: dict[tuple[int, str], datetime] = {}
    for occ_id, recipient, due in rows:
        key = (occ_id, recipient.partition(":")[2])
        found[key] = max(found.get(key, from_naive_utc(due)), from_naive_utc(due))
    return found


def missing_for(row: AnyRow, states: dict[tuple[int, str], TeamState], roster: Roster,
                 by_commune: dict[tuple[int, str], list[tuple[str, TeamState]]]) -> list[str]:
    """Whom a follow-up row is about, as of now."""
    kind = kind_of(row.kind)
    if kind is Kind.NUDGE:
        state = states.get((row.occurrence_id, row.team_id))
        person = row.recipient.partition(":")[2]
        return [person] if state and person in state.missing else []
    if kind is Kind.ESCALATE_LEADER:
        state = states.get((row.occurrence_id, row.team_id))
        return state.missing if state else []
    team = roster.teams.get(row.team_id)
    if team is None:
        return []
    return [p for _, state in by_commune.get((row.occurrence_id, team.commune_id), []) for p in state.missing]


# -- weekly digest -------------------------------------------------------------------------

def week_of(day: date) -> tuple[date, str]:
    """(Monday, 'YYYY-Www') of the ISO week holding `day`."""
    year, week, _ = day.isocalendar()
    return day - timedelta(days=day.weekday()), f"{year}-W{week:02d}"


def plan_digest(conn: Connection, roster: Roster, now: datetime) -> int:
    """This week's digest, due next Monday 08:00 local, to every team leader and commune
    official whose teams have reminders this week. Planned as the week starts (the planner
    has written the week's reminders by then), so it waits in the outbox like any message;
    its numbers are counted when it is sent."""
    zone = ZoneInfo(roster.timezone)
    monday, label = week_of(now.astimezone(zone).date())
    kind = f"{Kind.DIGEST}:{label}"
    if conn.execute(select(DELIVERY.c.id).where(DELIVERY.c.kind == kind).limit(1)).first():
        return 0
    start = datetime.combine(monday, time(0), tzinfo=zone)
    due = datetime.combine(monday + timedelta(days=7 + DIGEST_WEEKDAY), DIGEST_AT, tzinfo=zone)
    active = set(conn.execute(select(DELIVERY.c.team_id).distinct().where(
        _alarm_kind(), DELIVERY.c.due_at >= as_utc(start), DELIVERY.c.due_at < as_utc(start + timedelta(days=7)),
        DELIVERY.c.status != DeliveryStatus.CANCELLED)).scalars())
    rows: list[dict[str, object]] = []
    for team in roster.teams.values():
        if team.id in active:
            rows.extend(_row(None, f"person:{p.id}", team.id, kind, due, due + timedelta(days=1))
                        for p in roster.leaders(team))
    for commune in roster.communes.values():
        teams = [t_.id for t_ in roster.teams_in(commune.id) if t_.id in active]
        if teams:
            rows.extend(_row(None, f"person:{p.id}", teams[0], kind, due, due + timedelta(days=1))
                        for p in officials(roster, commune))
    if rows:
        stmt = dialect_insert(conn, DELIVERY).on_conflict_do_nothing(index_elements=["recipient", "kind"],
                                                                     index_where=DELIVERY.c.occurrence_id.is_(None))
        conn.execute(stmt, rows)
    return len(rows)


# -- rendering at send time -------------------------------------------------------------------
