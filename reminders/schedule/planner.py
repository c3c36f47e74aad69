"""The planner: expands each duty once over a rolling horizon and upserts the schedule.

Idempotent: occurrences and deliveries are keyed (duty UID + recurrence id, and
occurrence + recipient + kind), so planning twice changes nothing. A changed duty
re-plans its window: moved occurrences move their pending deliveries, removed or
cancelled ones cancel them; sent deliveries and acknowledgements are never touched.
A group a leader binds with `/bind` (or whose binding breaks) counts as a change of the
duties that reach the team: their pending reminders are re-planned, to the group instead
of each member (or back).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import Select, column, or_, select, table, text, true, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ProgrammingError

from reminders.definitions.audience import recipients
from reminders.definitions.expand import alarm_reach, occurrences, reminder_times
from reminders.definitions.model import Alarm, Duty, Occurrence
from reminders.definitions.policy import CHECKIN_GRACE, LATE_REMINDER_GRACE
from reminders.definitions.quiet import QuietHours, place
from reminders.definitions.roster import Roster, Team, roster_fingerprint
from reminders.kinds import DeliveryStatus, Kind, OccurrenceStatus
from reminders.store.bindings import bound_groups
from reminders.store.models import DELIVERY, OCCURRENCE, PLAN_STATE
from reminders.store.upsert import Bulk, DialectInsert, dialect_insert
from reminders.timeutil import as_utc, from_naive_utc

DEFAULT_HORIZON = timedelta(days=14)
# First plan of a duty also picks up reminders due this long ago whose occurrence is still on.
FIRST_PLAN_LOOKBACK = timedelta(days=1)
# An unchanged duty's horizon is extended by this much at a time, so most ticks skip it.
EXTEND_STEP = timedelta(days=1)
BATCH = 10_000  # parameter sets per executemany: rows are streamed, never all in memory
PLANNED_KIND = re.compile(r"(?:reminder|checkin)-\d+")  # Alarm.key: the kinds the planner writes


@dataclass
class PlanResult:
    duties_planned: int = 0  # new or changed: expanded over the whole horizon
    duties_extended: int = 0  # unchanged, horizon moved on: only the new days expanded
    duties_unchanged: int = 0
    occurrences: int = 0
    deliveries_upserted: int = 0
    deliveries_cancelled: int = 0
    removed_duties: list[str] = field(default_factory=list)


# The columns of a planned delivery, in the order of its parameter tuple (DeliveryParams).
DELIVERY_KEYS = ("occurrence_id", "recipient", "team_id", "kind", "due_at", "expires_at", "status", "attempts")
# Where a re-plan's rows are copied before one upsert from them (PostgreSQL; a temporary table).
STAGED = table("planned_delivery", *(column(key) for key in DELIVERY_KEYS))
DeliveryParams: TypeAlias = tuple[int, str, str, str, object, object, object, object]


def _noting(rows: Iterable[DeliveryParams], wanted: set[tuple[int, str, str]]) -> Iterator[DeliveryParams]:
    """The rows, each one's key (occurrence, recipient, kind) added to `wanted` as it passes."""
    for row in rows:
        wanted.add((row[0], row[1], row[3]))
        yield row


def expires_at(alarm: Alarm, due: datetime, occurrence: Occurrence) -> datetime:
    """Until when a late reminder still makes sense; after that it is marked missed."""
    if alarm.kind is Kind.CHECKIN:
        return max(due, occurrence.end) + CHECKIN_GRACE
    return max(occurrence.end, due + LATE_REMINDER_GRACE)


def quiet_time(alarm: Alarm, due: datetime, occurrence: Occurrence,
               team: Team) -> tuple[datetime, datetime] | None:
    """(due, expiry) of one reminder for one team, out of the team's quiet hours: deferred to
    the morning, or moved before the night if its occurrence would be over by the morning --
    or, for a reminder due before a timed occurrence starts, already started (a check-in: if
    its grace would be over). None if there is no moment left to send it."""
    deadline = expires_at(alarm, due, occurrence) if alarm.kind is Kind.CHECKIN else occurrence.end
    if alarm.kind is not Kind.CHECKIN and not occurrence.all_day and due < occurrence.start:
        # Said before the start: the 06:00 programme is not announced at 06:30, but the evening before.
        deadline = occurrence.start
    placed = place(due, team.quiet, ZoneInfo(team.timezone), deadline=deadline)
    if placed is None:
        return None
    return placed, expires_at(alarm, placed, occurrence)


class Planner:
    """Holds the fan-out of each duty (which teams, which recipients) between ticks."""

    def __init__(self, engine: Engine, horizon: timedelta = DEFAULT_HORIZON,
                 lookback: timedelta = FIRST_PLAN_LOOKBACK) -> None:
        self.engine = engine
        self.horizon = horizon
        self.lookback = lookback
        self._fanouts: dict[tuple[str, str, int, str], list[tuple[Team, list[str]]]] = {}
        self._teams: dict[tuple[str, str, int], frozenset[str]] = {}
        # This tick's teams whose only group chat is a run-time binding (/bind): they change
        # whom a duty addresses, where the roster alone would send to each member.
        self._bound: frozenset[str] = frozenset()
        self._roster_fp: tuple[Roster, str] | None = None

    # -- public -----------------------------------------------------------------
    def plan(self, duties: Mapping[str, Duty], roster: Roster, now: datetime) -> PlanResult:
        """One planner tick at `now` (aware UTC)."""
        result = PlanResult()
        roster_fp = self._roster_fingerprint(roster)
        until = now + self.horizon
        with self.engine.begin() as conn:
            states = {s.duty_uid: s for s in conn.execute(select(PLAN_STATE)).mappings()}
            bound = bound_groups(conn)
        self._bound = frozenset(tid for tid in bound if tid in roster.teams and not roster.teams[tid].chats)
        for duty in duties.values():
            # The bound groups the duty reaches are part of what it was planned for: a /bind
            # after planning re-plans the duty (pending rows only; sent ones stay).
            fingerprint = hashlib.sha256(f"{duty.fingerprint}{roster_fp}{self._bound_in(duty, roster)}"
                                         .encode()).hexdigest()[:16]
            state = states.get(duty.uid)
            if state and state["active"] and state["fingerprint"] == fingerprint:
                planned_until = from_naive_utc(state["planned_until"])
                if planned_until >= until:
                    result.duties_unchanged += 1
                    continue
                self._plan_duty(duty, roster, planned_until, until + EXTEND_STEP, now, fingerprint,
                                result, full=False)
                result.duties_extended += 1
            else:
                self._plan_duty(duty, roster, now - self.lookback if state is None else now,
                                until + EXTEND_STEP, now, fingerprint, result, full=state is not None)
                result.duties_planned += 1
        for uid, state in states.items():
            if uid not in duties and state["active"]:
                self._remove_duty(uid, now, result)
        return result

    # -- internals ----------------------------------------------------------------
    def _roster_fingerprint(self, roster: Roster) -> str:
        """roster_fingerprint, worked out once per roster: a loaded roster is not changed in
        place (a changed file is loaded anew), as the caches of teams and fan-outs below
        assume too. The roster is kept with it, so its id is never another's."""
        if self._roster_fp is None or self._roster_fp[0] is not roster:
            self._roster_fp = (roster, roster_fingerprint(roster))
        return self._roster_fp[1]

    def _team_ids(self, duty: Duty, roster: Roster) -> frozenset[str]:
        """The teams a duty applies to; cached until the duty or roster changes."""
        key = (duty.uid, duty.fingerprint, id(roster))
        if key not in self._teams:
            self._teams = {k: v for k, v in self._teams.items() if k[0] != duty.uid}
            self._teams[key] = frozenset(t.id for t in roster.teams.values() if duty.applies_to(t.id, t.commune_id))
        return self._teams[key]

    def _bound_in(self, duty: Duty, roster: Roster) -> str:
        """The duty's teams reached through a run-time group binding only, as text ("" if none)."""
        if not self._bound:
            return ""
        teams = self._team_ids(duty, roster)
        return ",".join(sorted(tid for tid in self._bound if tid in teams))

    def _fanout(self, duty: Duty, roster: Roster) -> list[tuple[Team, list[str]]]:
        """Which teams and recipients a duty reaches; cached until the duty, the roster or
        the duty's bound groups change."""
        key = (duty.uid, duty.fingerprint, id(roster), self._bound_in(duty, roster))
        if key not in self._fanouts:
            teams = [t for t in roster.teams.values() if t.id in self._team_ids(duty, roster)]
            self._fanouts = {k: v for k, v in self._fanouts.items() if k[0] != duty.uid}
            self._fanouts[key] = [(team, recipients(duty, team, roster, bound=self._bound)) for team in teams]
        return self._fanouts[key]

    def _slots(self, duty: Duty, occs: Iterable[Occurrence], occ_ids: Mapping[str, int],
               since: datetime, until: datetime) -> list[tuple[Occurrence, int, Alarm, datetime]]:
        """(occurrence, its row id, alarm, due time) of each reminder due in [since, until)."""
        return [(occ, occ_ids[occ.recurrence_id], alarm, due) for occ in occs
                for alarm, due in reminder_times(duty, occ) if since <= due < until]

    def _desired(self, bulk: Bulk, fanout: list[tuple[Team, list[str]]],
                 slots: list[tuple[Occurrence, int, Alarm, datetime]], now: datetime) -> Iterator[DeliveryParams]:
        """The planned deliveries, streamed as the insert's parameter tuples (DELIVERY_KEYS).
        Per row only the tuple is built: the kind, and each team's due time and expiry (the
        same for every team of the same quiet hours), are worked out once."""
        pending, attempts = bulk.value("status", DeliveryStatus.PENDING.value), bulk.value("attempts", 0)
        for occ, occ_id, alarm, due in slots:
            kind = alarm.key
            placed: dict[tuple[QuietHours | None, str], tuple[object, object] | None] = {}
            for team, keys in fanout:
                quiet_key = (team.quiet, team.timezone)
                if quiet_key in placed:
                    slot = placed[quiet_key]
                else:
                    times = quiet_time(alarm, due, occ, team)
                    slot = None if times is None or times[1] <= now else (
                        bulk.value("due_at", times[0]), bulk.value("expires_at", times[1]))
                    placed[quiet_key] = slot
                if slot is None:
                    continue
                team_due, expiry = slot
                team_id = team.id
                for recipient in keys:
                    yield (occ_id, recipient, team_id, kind, team_due, expiry, pending, attempts)

    def _plan_duty(self, duty: Duty, roster: Roster, since: datetime, until: datetime, now: datetime,
                   fingerprint: str, result: PlanResult, *, full: bool) -> None:
        before, after = alarm_reach(duty)
        occs = occurrences(duty, since - after, until + before)
        fanout = self._fanout(duty, roster)
        with self.engine.begin() as conn:
            if full:
                self._carry_over(conn, duty, occs, since)
            occ_ids = self._upsert_occurrences(conn, occs)
            slots = self._slots(duty, occs, occ_ids, since, until)
            bulk = Bulk(conn, self._delivery_upsert(conn), DELIVERY_KEYS)
            distinct = self._distinct(conn, fanout, slots)
            staged = distinct and not self._untouched(conn, slots)
            if staged and not self._stage(conn):
                distinct = staged = False
            rows = self._desired(bulk, fanout, slots, now)
            wanted: set[tuple[int, str, str]] = set()
            if full:
                rows = _noting(rows, wanted)
            if not distinct:
                written = bulk.executemany(rows, BATCH)
            elif not staged:
                written = bulk.copy(DELIVERY, rows)
            else:
                # Rows there may conflict: COPY into a table of this transaction, then one upsert from it.
                written = bulk.copy(STAGED, rows)
                conn.execute(self._delivery_upsert(conn, select(*STAGED.c)))
            result.deliveries_upserted += written
            result.occurrences += len(occs)
            if full:
                result.deliveries_cancelled += self._cancel_unwanted(conn, duty.uid, wanted, occ_ids, since)
            if staged:
                conn.execute(text(f"DROP TABLE {STAGED.name}"))
            self._save_state(conn, duty.uid, fingerprint, until)

    def _distinct(self, conn: Connection, fanout: list[tuple[Team, list[str]]],
                  slots: list[tuple[Occurrence, int, Alarm, datetime]]) -> bool:
        """Whether the rows planned can go by PostgreSQL's COPY, as a set: no key (occurrence,
        recipient, kind) twice among them -- a person on two teams is one row, upserted twice."""
        if conn.dialect.name != "postgresql" or not slots:
            return False
        pairs = {(occ_id, alarm.key) for _, occ_id, alarm, _ in slots}
        recipients_ = [recipient for _, keys in fanout for recipient in keys]
        return len(pairs) == len(slots) and len(set(recipients_)) == len(recipients_)

    @staticmethod
    def _stage(conn: Connection) -> bool:
        """Create this transaction's table of staged rows (STAGED); False if the database's
        role may not create temporary tables (TEMPORARY revoked): then rows go one by one."""
        try:
            with conn.begin_nested():
                conn.execute(text(f"CREATE TEMPORARY TABLE {STAGED.name} ON COMMIT DROP AS "
                                  f"SELECT {', '.join(DELIVERY_KEYS)} FROM {DELIVERY.name} WITH NO DATA"))
        except ProgrammingError:  # permission denied to create temporary tables
            return False
        return True

    def _untouched(self, conn: Connection, slots: list[tuple[Occurrence, int, Alarm, datetime]]) -> bool:
        """Whether no row exists yet, in any status, of any (occurrence, kind) the rows planned
        are for: then none can conflict, and they are plainly inserted, not upserted."""
        pairs = sorted({(occ_id, alarm.key) for _, occ_id, alarm, _ in slots})
        existing = conn.execute(select(DELIVERY.c.id).where(
            tuple_(DELIVERY.c.occurrence_id, DELIVERY.c.kind).in_(pairs)).limit(1)).first()
        return existing is None

    def _carry_over(self, conn: Connection, duty: Duty, occs: list[Occurrence], since: datetime) -> None:
        """An edit that shifts the master's time (07:30 -> 08:00) gives every instance a new
        RECURRENCE-ID. Match old and new instances on the same local day and re-key the old
        row, so its sent reminders and acknowledgements stay with it and nothing is re-sent."""
        new_rids = {o.recurrence_id for o in occs}
        existing = conn.execute(select(OCCURRENCE.c.id, OCCURRENCE.c.recurrence_id, OCCURRENCE.c.start_at)
                                .where(OCCURRENCE.c.duty_uid == duty.uid,
                                       OCCURRENCE.c.start_at >= as_utc(since - timedelta(days=1)))).all()
        known = {row.recurrence_id for row in existing}
        orphans: dict[date, list[int]] = {}
        for row in existing:
            if row.recurrence_id not in new_rids:
                day = from_naive_utc(row.start_at).astimezone(duty.zone).date()
                orphans.setdefault(day, []).append(row.id)
        for occ in occs:
            day = occ.start.astimezone(duty.zone).date()
            if occ.recurrence_id not in known and orphans.get(day):
                conn.execute(update(OCCURRENCE).where(OCCURRENCE.c.id == orphans[day].pop(0))
                             .values(recurrence_id=occ.recurrence_id))

    def _upsert_occurrences(self, conn: Connection, occs: list[Occurrence]) -> dict[str, int]:
        if not occs:
            return {}
        values = [{
            "duty_uid": o.duty_uid, "recurrence_id": o.recurrence_id, "start_at": as_utc(o.start),
            "end_at": as_utc(o.end), "all_day": o.all_day, "summary": o.summary,
            "status": OccurrenceStatus.CANCELLED if o.cancelled else OccurrenceStatus.SCHEDULED,
        } for o in occs]
        insert = dialect_insert(conn, OCCURRENCE)
        stmt = insert.values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["duty_uid", "recurrence_id"],
            set_={k: getattr(stmt.excluded, k) for k in ("start_at", "end_at", "all_day", "summary", "status")},
        )
        conn.execute(stmt)
        uid = occs[0].duty_uid
        rids = [o.recurrence_id for o in occs]
        found = conn.execute(select(OCCURRENCE.c.recurrence_id, OCCURRENCE.c.id).where(
            OCCURRENCE.c.duty_uid == uid, OCCURRENCE.c.recurrence_id.in_(rids)))
        return dict(found.all())

    @staticmethod
    def _delivery_upsert(conn: Connection, rows: Select[Any] | None = None) -> DialectInsert:
        """The upsert of planned deliveries: of one row (VALUES), or of the `rows` selected."""
        table = DELIVERY
        insert = dialect_insert(conn, table)
        if rows is not None:
            insert = insert.from_select(list(DELIVERY_KEYS), rows)
        # One statement, many parameter sets (executemany): compiled once, not per batch.
        # A moved occurrence moves its reminders, but only those not yet handed out.
        return insert.on_conflict_do_update(
            index_elements=["occurrence_id", "recipient", "kind"],
            set_={"due_at": insert.excluded.due_at, "expires_at": insert.excluded.expires_at,
                  "status": DeliveryStatus.PENDING},
            where=or_(table.c.status == DeliveryStatus.PENDING, table.c.status == DeliveryStatus.CANCELLED),
        )

    def _cancel_unwanted(self, conn: Connection, uid: str, wanted: set[tuple[int, str, str]],
                         occ_ids: dict[str, int], since: datetime) -> int:
        """Cancel the duty's pending rows from `since` on that the plan no longer wants (not in
        `wanted`: keys occurrence, recipient, kind), and remove the occurrences it no longer has.

        In Python, not as one UPDATE ... NOT EXISTS against the staged rows: right after a bulk
        write the table's statistics are stale, and PostgreSQL chose a nested loop (minutes)."""
        pending = conn.execute(
            select(DELIVERY.c.id, DELIVERY.c.occurrence_id, DELIVERY.c.recipient, DELIVERY.c.kind)
            .join(OCCURRENCE, OCCURRENCE.c.id == DELIVERY.c.occurrence_id)
            .where(OCCURRENCE.c.duty_uid == uid, DELIVERY.c.status == DeliveryStatus.PENDING,
                   DELIVERY.c.due_at >= as_utc(since))
        ).all()
        # Only the planner's own rows ("reminder-0", "checkin-1"): follow-ups, snoozed reminders
        # ("reminder-0@…"), /remindnow and notices are not in `wanted`, and an edit of the
        # roster or the duty must not cancel them.
        stale = [row.id for row in pending if PLANNED_KIND.fullmatch(row.kind)
                 and (row.occurrence_id, row.recipient, row.kind) not in wanted]
        for start in range(0, len(stale), BATCH):
            conn.execute(update(DELIVERY).where(DELIVERY.c.id.in_(stale[start:start + BATCH]))
                         .values(status=DeliveryStatus.CANCELLED))
        self._remove_occurrences(conn, uid, occ_ids, since)
        return len(stale)

    @staticmethod
    def _remove_occurrences(conn: Connection, uid: str, occ_ids: dict[str, int], since: datetime) -> None:
        """Occurrences in the window that the definition no longer produces."""
        planned_rids = set(occ_ids)
        conn.execute(update(OCCURRENCE).where(
            OCCURRENCE.c.duty_uid == uid, OCCURRENCE.c.start_at >= as_utc(since),
            OCCURRENCE.c.recurrence_id.not_in(planned_rids) if planned_rids else true(),
            OCCURRENCE.c.status == OccurrenceStatus.SCHEDULED).values(status=OccurrenceStatus.REMOVED))

    def _remove_duty(self, uid: str, now: datetime, result: PlanResult) -> None:
        """A duty deleted from the calendars: cancel what is pending, keep all history."""
        with self.engine.begin() as conn:
            occ_ids = select(OCCURRENCE.c.id).where(OCCURRENCE.c.duty_uid == uid)
            cancelled = conn.execute(update(DELIVERY).where(
                DELIVERY.c.occurrence_id.in_(occ_ids), DELIVERY.c.status == DeliveryStatus.PENDING
            ).values(status=DeliveryStatus.CANCELLED)).rowcount
            conn.execute(update(OCCURRENCE).where(
                OCCURRENCE.c.duty_uid == uid, OCCURRENCE.c.start_at >= as_utc(now),
                OCCURRENCE.c.status == OccurrenceStatus.SCHEDULED).values(status=OccurrenceStatus.REMOVED))
            conn.execute(update(PLAN_STATE).where(PLAN_STATE.c.duty_uid == uid).values(active=False))
        result.deliveries_cancelled += cancelled
        result.removed_duties.append(uid)

    def _save_state(self, conn: Connection, uid: str, fingerprint: str, until: datetime) -> None:
        stmt = dialect_insert(conn, PLAN_STATE).values(duty_uid=uid, fingerprint=fingerprint,
                                                        planned_until=as_utc(until), active=True)
        stmt = stmt.on_conflict_do_update(
            index_elements=["duty_uid"],
            set_={"fingerprint": fingerprint, "planned_until": as_utc(until), "active": True})
        conn.execute(stmt)


def plan(engine: Engine, duties: Mapping[str, Duty], roster: Roster, now: datetime,
         horizon: timedelta = DEFAULT_HORIZON) -> PlanResult:
    """Plan every duty at `now`: the one-call form of `Planner(engine).plan(...)`."""
    return Planner(engine, horizon).plan(duties, roster, now)


