"""The planner: idempotent, edits re-plan without duplicates, history is kept."""

from __future__ import annotations

import uuid
from datetime import timedelta

from helpers import snapshot, vn
from sqlalchemy import delete, func, select, text, update
from sqlmodel import Session

from reminders import load_duties, load_roster, plan, record_acknowledgement
from reminders.codes import delivery_code
from reminders.definitions.roster import Commune, Person, Roster, Team
from reminders.schedule.planner import Planner
from reminders.store.engine import make_engine
from reminders.store.models import AcknowledgementRow, DeliveryRow, OccurrenceRow, PlanStateRow

CAMPAIGN = "chien-dich-di-tung-ngo@reminders"


def _load(calendars):
    roster = load_roster(calendars / "roster.yaml")
    return load_duties(calendars, roster), roster


def _deliveries(engine, uid: str, **filters):
    with Session(engine) as session:
        query = (select(DeliveryRow, OccurrenceRow.recurrence_id)
                 .join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)
                 .where(OccurrenceRow.duty_uid == uid))
        for key, value in filters.items():
            query = query.where(getattr(DeliveryRow, key) == value)
        return session.execute(query).all()


def test_planning_twice_changes_nothing(engine, calendars):
    duties, roster = _load(calendars)
    now = vn(2024, 9, 28, 0, 0)
    first = plan(engine, duties, roster, now)
    assert first.deliveries_upserted > 100
    before = snapshot(engine)
    again = plan(engine, duties, roster, now)
    assert again.duties_unchanged == len(duties) and again.deliveries_upserted == 0
    assert plan(engine, duties, roster, now + timedelta(hours=1)).duties_unchanged == len(duties)
    assert snapshot(engine) == before
    # A fresh planner (a restarted process) re-upserts everything and still changes nothing.
    plan(engine, duties, roster, now + timedelta(minutes=1))
    Planner(engine).plan(duties, roster, now)
    assert snapshot(engine) == before


def test_campaign_fans_out_to_every_team(engine, calendars):
    duties, roster = _load(calendars)
    plan(engine, duties, roster, vn(2024, 9, 28))
    rows = _deliveries(engine, CAMPAIGN)
    # 10 days x (morning reminder + evening check-in) x 3 teams; thon-bac has no group chat,
    # so its two members are addressed one by one.
    per_day_recipients = {"team:thon-dong", "team:thon-tay", "person:do-van-hai", "person:bui-thi-lan"}
    assert {r[0].recipient for r in rows} == per_day_recipients
    assert len(rows) == 10 * 2 * len(per_day_recipients)
    assert {r[0].kind for r in rows} == {"reminder-0", "checkin-1"}
    morning = sorted(r[0].due_at for r in rows if r[0].kind == "reminder-0" and r[0].recipient == "team:thon-dong")
    assert morning[0] == vn(2024, 10, 1, 7, 0) and morning[-1] == vn(2024, 10, 10, 7, 0)


def test_edit_moves_pending_keeps_sent_and_acks(engine, calendars):
    duties, roster = _load(calendars)
    now = vn(2024, 9, 28)
    plan(engine, duties, roster, now)
    first_day = [r[0] for r in _deliveries(engine, CAMPAIGN) if r[1] == "2024-10-01T00:30:00Z"]
    sent = next(d for d in first_day if d.recipient == "team:thon-dong" and d.kind == "reminder-0")
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.id == sent.id).values(status="sent", sent_at=now))
    record_acknowledgement(engine, roster, duties, code=delivery_code(sent.id), person_id="tran-thi-binh",
                           channel="console", now=now)
    count_before = len(_deliveries(engine, CAMPAIGN))

    path = calendars / "campaign-october.ics"
    path.write_text(path.read_text(encoding="utf-8").replace("T073000", "T080000")
                    .replace("UID:chien", "SEQUENCE:1\nUID:chien"), encoding="utf-8")
    duties, roster = _load(calendars)
    result = plan(engine, duties, roster, now + timedelta(hours=1))
    assert result.duties_planned == 1

    rows = _deliveries(engine, CAMPAIGN)
    assert len(rows) == count_before, "an edit must not duplicate deliveries"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar() == 1
    still_sent = next(r[0] for r in rows if r[0].id == sent.id)
    assert still_sent.status == "sent" and still_sent.due_at == vn(2024, 10, 1, 7, 0)
    moved = [r[0] for r in rows if r[0].kind == "reminder-0" and r[0].status == "pending"]
    assert moved and all(d.due_at.astimezone(vn(2024, 1, 1).tzinfo).strftime("%H:%M") == "07:30" for d in moved)


def _override(calendars, body: str) -> None:
    path = calendars / "campaign-october.ics"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("END:VCALENDAR", body.strip() + "\nEND:VCALENDAR"), encoding="utf-8")


def test_moved_and_cancelled_occurrences(engine, calendars):
    duties, roster = _load(calendars)
    now = vn(2024, 9, 28)
    plan(engine, duties, roster, now)
    _override(calendars, """
BEGIN:VEVENT
UID:chien-dich-di-tung-ngo@reminders
RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20241003T073000
SUMMARY:Chiến dịch (dời sang chiều)
DTSTART;TZID=Asia/Ho_Chi_Minh:20241003T133000
DURATION:PT6H
END:VEVENT
BEGIN:VEVENT
UID:chien-dich-di-tung-ngo@reminders
RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20241005T073000
STATUS:CANCELLED
DTSTART;TZID=Asia/Ho_Chi_Minh:20241005T073000
SUMMARY:Chiến dịch
END:VEVENT
""")
    duties, roster = _load(calendars)
    result = plan(engine, duties, roster, now + timedelta(minutes=5))
    assert result.deliveries_cancelled == 2 * 4

    moved = _deliveries(engine, CAMPAIGN, recipient="team:thon-dong")
    by_rid = {(r[1], r[0].kind): r[0] for r in moved}
    # The occurrence key survives the move; the override inherits the master's reminders.
    assert by_rid[("2024-10-03T00:30:00Z", "reminder-0")].due_at == vn(2024, 10, 3, 13, 0)
    assert by_rid[("2024-10-03T00:30:00Z", "checkin-1")].due_at == vn(2024, 10, 3, 19, 30)
    assert by_rid[("2024-10-05T00:30:00Z", "reminder-0")].status == "cancelled"
    assert by_rid[("2024-10-04T00:30:00Z", "reminder-0")].status == "pending"
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(OccurrenceRow.recurrence_id, OccurrenceRow.status)
                                     .where(OccurrenceRow.duty_uid == CAMPAIGN)).all())
    assert statuses["2024-10-05T00:30:00Z"] == "cancelled"
    assert statuses["2024-10-03T00:30:00Z"] == "scheduled"

    # Undo the cancellation: the cancelled reminders come back, still without duplicates.
    (calendars / "campaign-october.ics").write_text(
        (calendars / "campaign-october.ics").read_text(encoding="utf-8").replace("STATUS:CANCELLED\n", ""),
        encoding="utf-8")
    duties, roster = _load(calendars)
    plan(engine, duties, roster, now + timedelta(minutes=10))
    again = {(r[1], r[0].kind): r[0] for r in _deliveries(engine, CAMPAIGN, recipient="team:thon-dong")}
    assert again[("2024-10-05T00:30:00Z", "reminder-0")].status == "pending"
    assert len(again) == len(by_rid)


def test_deleted_duty_cancels_pending_and_keeps_history(engine, calendars):
    duties, roster = _load(calendars)
    now = vn(2024, 9, 28)
    plan(engine, duties, roster, now)
    one = _deliveries(engine, CAMPAIGN, recipient="person:do-van-hai", kind="reminder-0")[0][0]
    with engine.begin() as conn:
        conn.execute(update(DeliveryRow).where(DeliveryRow.id == one.id).values(status="sent"))
    record_acknowledgement(engine, roster, duties, code=delivery_code(one.id), person_id="do-van-hai",
                           channel="console", now=now)
    (calendars / "campaign-october.ics").unlink()
    duties, roster = _load(calendars)
    result = plan(engine, duties, roster, now + timedelta(minutes=1))
    assert result.removed_duties == [CAMPAIGN]
    statuses = {r[0].status for r in _deliveries(engine, CAMPAIGN)}
    assert statuses == {"sent", "cancelled"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AcknowledgementRow)).scalar() == 1
        assert conn.execute(select(PlanStateRow.active).where(PlanStateRow.duty_uid == CAMPAIGN)).scalar() is False


def test_horizon_rolls_forward_without_replanning(engine, calendars):
    duties, roster = _load(calendars)
    start = vn(2024, 9, 20)
    plan(engine, duties, roster, start)
    before = len(_deliveries(engine, CAMPAIGN))
    assert before < 80  # the horizon (14 days) only reaches part of the campaign
    plan(engine, duties, roster, start + timedelta(days=8))
    assert len(_deliveries(engine, CAMPAIGN)) == 80


def _by_key(engine) -> dict[tuple, tuple]:
    """Every delivery by its key (duty, occurrence, recipient, kind): what it says, not its id."""
    with engine.connect() as conn:
        rows = conn.execute(select(OccurrenceRow.duty_uid, OccurrenceRow.recurrence_id, DeliveryRow.recipient,
                                   DeliveryRow.kind, DeliveryRow.team_id, DeliveryRow.due_at,
                                   DeliveryRow.expires_at, DeliveryRow.status, DeliveryRow.attempts)
                            .join(OccurrenceRow, OccurrenceRow.id == DeliveryRow.occurrence_id)).all()
    return {tuple(row[:4]): tuple(row[4:]) for row in rows}


def _replan_over_every_row(owner, planner_engine, duties, roster, now) -> None:
    """Every row cancelled and moved, the planner's state forgotten: a re-plan (upserts over
    the rows there) must bring back exactly what the plan before it wrote."""
    first = snapshot(planner_engine)
    with owner.begin() as conn:
        conn.execute(update(DeliveryRow).values(status="cancelled", due_at=now, expires_at=now))
        conn.execute(delete(PlanStateRow))
    assert plan(planner_engine, duties, roster, now).deliveries_upserted > 100
    assert snapshot(planner_engine) == first


def test_first_plan_writes_what_the_upsert_writes(engine, calendars):
    """A duty's first plan, where no row can conflict, inserts its rows in one go (COPY, on
    PostgreSQL); a plan over rows already there upserts them. Both give the same rows: every
    row is cancelled and moved, the planner's state forgotten, and the re-plan (upserts over
    the rows there) brings back exactly what the first plan wrote."""
    duties, roster = _load(calendars)
    now = vn(2024, 9, 28)
    assert plan(engine, duties, roster, now).deliveries_upserted > 100
    _replan_over_every_row(engine, engine, duties, roster, now)


def test_postgresql_plans_the_same_rows_as_sqlite(postgres_url, sqlite_url, calendars):
    """PostgreSQL's first plan (COPY) and SQLite's (upserts): the same deliveries, to the second."""
    duties, roster = _load(calendars)
    found = []
    for url in (postgres_url, sqlite_url):
        engine = make_engine(url)
        try:
            plan(engine, duties, roster, vn(2024, 9, 28))
            plan(engine, duties, roster, vn(2024, 9, 30, 1))  # an extension: more rows on existing occurrences
            found.append(_by_key(engine))
        finally:
            engine.dispose()
    assert len(found[0]) > 100 and found[0] == found[1]


def test_a_person_on_two_teams_gets_one_reminder(engine, calendars):
    """A roster (built in code: the YAML reader refuses it) with a person on two teams without a
    group chat: one row per reminder for them, not two -- and not a failed plan (rows that
    would collide with each other are upserted, never inserted plainly)."""
    duties = load_duties(calendars)
    roster = Roster(source="<two teams, one person>")
    roster.communes["xa"] = Commune("xa", "Xã", roster.timezone, ())
    for tid in ("a", "b"):
        roster.people[f"p-{tid}"] = Person(f"p-{tid}", f"Người {tid}", "leader", "vi", {"console": tid}, tid, "xa")
        roster.teams[tid] = Team(tid, f"Tổ {tid}", "xa", "vi", roster.timezone, {}, (f"p-{tid}", "p-shared"))
    roster.people["p-shared"] = Person("p-shared", "Người chung", "member", "vi", {"console": "s"}, "a", "xa")
    plan(engine, duties, roster, vn(2024, 9, 28))
    rows = _deliveries(engine, CAMPAIGN)
    shared = [r for r in rows if r[0].recipient == "person:p-shared"]
    assert shared and len(shared) == len({(r[1], r[0].kind) for r in shared})
    assert len(shared) == len([r for r in rows if r[0].recipient == "person:p-a"])


def test_a_planner_kept_across_rosters_plans_for_the_new_one(engine, calendars):
    """The planner works out a roster's fingerprint once per roster object; a roster loaded
    anew (thôn Bắc now has a group chat) is another one, and the same planner re-plans for it."""
    duties, roster = _load(calendars)
    planner = Planner(engine)
    now = vn(2024, 9, 28)
    planner.plan(duties, roster, now)
    assert {"person:do-van-hai", "person:bui-thi-lan"} <= {r[0].recipient for r in _deliveries(engine, CAMPAIGN)}
    path = calendars / "roster.yaml"
    path.write_text(path.read_text().replace("    commune: xa-tan-lap\n    members:\n      - id: do-van-hai",
                                             "    commune: xa-tan-lap\n    chats: {telegram: \"-1001000000003\"}\n"
                                             "    members:\n      - id: do-van-hai"))
    duties, changed = _load(calendars)
    assert changed.teams["thon-bac"].chats
    assert planner.plan(duties, changed, now + timedelta(minutes=1)).duties_planned == len(duties)
    pending = {r[0].recipient for r in _deliveries(engine, CAMPAIGN, status="pending")}
    assert "team:thon-bac" in pending and "person:do-van-hai" not in pending


def test_a_replan_without_temporary_tables_upserts_row_by_row(postgres_url, calendars):
    """A re-plan on PostgreSQL stages its rows in a temporary table; where the database's role
    may not create one (TEMPORARY revoked), the rows are upserted one by one instead -- the
    same rows, no failed tick."""
    role, database = f"planner_{uuid.uuid4().hex[:8]}", postgres_url.rsplit("/", 1)[1]
    owner = make_engine(postgres_url)
    duties, roster = _load(calendars)
    try:
        with owner.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            conn.execute(text(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC'))
            conn.execute(text(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{role}"'))
            conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
        limited = make_engine(postgres_url.replace("://postgres@", f"://{role}@"), create=False)
        try:
            now = vn(2024, 9, 28)
            plan(limited, duties, roster, now)
            _replan_over_every_row(owner, limited, duties, roster, now)
        finally:
            limited.dispose()
    finally:
        with owner.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        owner.dispose()
