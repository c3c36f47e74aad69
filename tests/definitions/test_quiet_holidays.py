"""Quiet hours (deferral to the morning, or moved before the night) and Vietnamese public
holidays (Tết 2025) as each duty's policy says, in planning, preview and the feed alike."""

from __future__ import annotations

from datetime import date, timedelta

import icalendar
import pytest
import recurring_ical_events
from helpers import VN, settings_for, vn
from sqlalchemy import select

from reminders import load_duties, load_roster, plan
from reminders.definitions.quiet import DEFAULT, parse_quiet, place
from reminders.errors import InvalidInput
from reminders.store.models import DeliveryRow, OccurrenceRow
from reminders.timeutil import from_naive_utc
from reminders.views.feeds import Scope, build_feed
from reminders.views.preview import preview_occurrences

ROSTER = """timezone: Asia/Ho_Chi_Minh
communes:
  - {id: xa, name: Xã Thử, officials: [{id: cb, name: Cán Bộ, role: official}]}
teams:
  - id: dong
    name: Tổ thôn Đông
    commune: xa
    chats: {console: g-dong}
    members: [{id: an, name: Nguyễn Văn An, role: leader}, {id: binh, name: Trần Thị Bình}]
  - id: tay
    name: Tổ thôn Tây
    commune: xa
    quiet_hours: "22:00-06:00"
    chats: {console: g-tay}
    members: [{id: dung, name: Phạm Văn Dũng, role: leader}]
  - id: bac
    name: Tổ thôn Bắc
    commune: xa
    quiet_hours: "off"
    chats: {console: g-bac}
    members: [{id: hai, name: Đỗ Văn Hải, role: leader}]
"""


def event(uid: str, start: str, *, duration: str = "PT1H", rule: str = "", alarm: str = "-PT30M",
          extra: str = "") -> str:
    return f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//quiet//VI
BEGIN:VEVENT
UID:{uid}
SUMMARY:{uid}
DTSTART;TZID=Asia/Ho_Chi_Minh:{start}
DURATION:{duration}
{rule}{extra}BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:x
TRIGGER:{alarm}
END:VALARM
END:VEVENT
END:VCALENDAR
"""


def definitions(tmp_path, files: dict[str, str], roster: str = ROSTER):
    directory = tmp_path / "calendars"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    (directory / "roster.yaml").write_text(roster, encoding="utf-8")
    roster_obj = load_roster(directory / "roster.yaml")
    return directory, roster_obj, load_duties(directory, roster_obj)


def local(value) -> str:
    return from_naive_utc(value).astimezone(VN).strftime("%d %H:%M")


def planned(engine, uid: str) -> dict[str, str]:
    """team -> local due time of the duty's one reminder."""
    with engine.connect() as conn:
        rows = conn.execute(select(DeliveryRow.team_id, DeliveryRow.due_at)
                            .join(OccurrenceRow).where(OccurrenceRow.duty_uid == uid)).all()
    return {r.team_id: local(r.due_at) for r in rows}


def test_place_defers_to_the_morning_or_moves_before_the_night():
    # 22:00, and the duty lasts until tomorrow noon: wait for 06:30.
    assert place(vn(2024, 10, 1, 22, 0), DEFAULT, VN, deadline=vn(2024, 10, 2, 12, 0)) == vn(2024, 10, 2, 6, 30)
    # 02:00 after midnight belongs to the night that began yesterday at 21:00.
    assert place(vn(2024, 10, 2, 2, 0), DEFAULT, VN, deadline=vn(2024, 10, 2, 12, 0)) == vn(2024, 10, 2, 6, 30)
    # Over before the morning: said at 20:30, half an hour before the quiet hours.
    assert place(vn(2024, 10, 1, 22, 0), DEFAULT, VN, deadline=vn(2024, 10, 1, 23, 0)) == vn(2024, 10, 1, 20, 30)
    assert place(vn(2024, 10, 2, 5, 0), DEFAULT, VN, deadline=vn(2024, 10, 2, 6, 0)) == vn(2024, 10, 1, 20, 30)
    # ... unless that is already past: then there is no moment left.
    assert place(vn(2024, 10, 1, 22, 0), DEFAULT, VN, deadline=vn(2024, 10, 1, 23, 0),
                 not_before=vn(2024, 10, 1, 21, 0)) is None
    assert place(vn(2024, 10, 1, 20, 59), DEFAULT, VN) == vn(2024, 10, 1, 20, 59)
    assert place(vn(2024, 10, 1, 6, 30), DEFAULT, VN) == vn(2024, 10, 1, 6, 30)
    assert place(vn(2024, 10, 1, 23, 0), None, VN) == vn(2024, 10, 1, 23, 0)
    lunch = parse_quiet("11:30-13:30")
    assert place(vn(2024, 10, 1, 12, 0), lunch, VN) == vn(2024, 10, 1, 13, 30)
    for bad in ("21:00", "25:00-06:00", "21:00-21:00", 2100):
        with pytest.raises(ValueError, match="quiet_hours"):
            parse_quiet(bad)
    assert parse_quiet("off") is None and parse_quiet(False) is None


def test_planning_keeps_each_teams_quiet_hours(tmp_path, engine):
    files = {
        # A late-evening duty (22:00-23:00), reminded at 21:30: over by the morning, so 20:30.
        "evening.ics": event("loa-toi", "20241001T220000", alarm="-PT30M"),
        # A morning duty reminded the evening before at 23:00: it waits for 06:30.
        "morning.ics": event("ra-quan", "20241002T073000", duration="PT10H", alarm="-PT8H30M"),
    }
    _, roster, duties = definitions(tmp_path, files)
    plan(engine, duties, roster, vn(2024, 10, 1, 8, 0))
    # Thôn Tây is quiet only from 22:00: 21:30 stays; Thôn Bắc has no quiet hours.
    assert planned(engine, "loa-toi") == {"dong": "01 20:30", "tay": "01 21:30", "bac": "01 21:30"}
    assert planned(engine, "ra-quan") == {"dong": "02 06:30", "tay": "02 06:00", "bac": "01 23:00"}
    # Planning again changes nothing.
    assert plan(engine, duties, roster, vn(2024, 10, 1, 8, 0)).deliveries_upserted == 0


def test_snooze_in_the_evening_comes_back_in_the_morning(tmp_path, engine):
    from reminders.codes import delivery_code
    from reminders.inbound.acks import snooze

    _, roster, duties = definitions(tmp_path, {"day.ics": event("ca-ngay", "20241001T073000",
                                                                duration="PT36H", alarm="PT0M")})
    plan(engine, duties, roster, vn(2024, 10, 1, 7, 0))
    with engine.connect() as conn:
        first = conn.execute(select(DeliveryRow.id).where(DeliveryRow.team_id == "dong")).scalar()
    due = snooze(engine, roster, code=delivery_code(first), person_id="binh", now=vn(2024, 10, 1, 20, 30))
    assert due == vn(2024, 10, 2, 6, 30)


def test_roster_quiet_hours_are_validated(tmp_path):
    path = tmp_path / "roster.yaml"
    path.write_text(ROSTER.replace('quiet_hours: "off"', 'quiet_hours: "21h-6h"'), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_roster(path)
    line = ROSTER.splitlines().index('    quiet_hours: "off"') + 1
    assert f"roster.yaml:{line}: quiet_hours must look like \"21:00-06:30\"" in str(caught.value)
    path.write_text("quiet_hours: 22:00-05:00\n" + ROSTER.replace('    quiet_hours: "22:00-06:00"\n', ""),
                    encoding="utf-8")
    roster = load_roster(path)
    assert str(roster.teams["tay"].quiet) == "22:00-05:00" and roster.teams["bac"].quiet is None


WEEKLY = event("hop-tuan", "20250115T080000", rule="RRULE:FREQ=WEEKLY;BYDAY=WE\n", alarm="-PT1H")


def _days(items) -> list[str]:
    return [item["start"][:10] for item in items]


@pytest.mark.parametrize(("policy", "tet_day"), [
    ("KEEP", "2025-01-29"),  # Tết (Mùng 1): kept
    ("SKIP", None),
    ("PREVIOUS", "2025-01-24"),  # 28 and 27 are Tết holidays too, 25-26 a weekend: Friday 24
    ("NEXT", "2025-02-03"),  # 30 Jan - 1 Feb are Tết, 2 Feb a Sunday: Monday 3
])
def test_a_duty_on_tet_follows_its_holiday_policy(tmp_path, engine, policy, tet_day):
    text = WEEKLY.replace("RRULE:", f"X-REMINDER-HOLIDAY:{policy}\nRRULE:")
    _, roster, duties = definitions(tmp_path, {"weekly.ics": text})
    duty = duties["hop-tuan"]
    days = _days(preview_occurrences(duty, date(2025, 1, 20), date(2025, 2, 6)))
    assert days == [d for d in ("2025-01-22", tet_day, "2025-02-05") if d]
    if policy in ("PREVIOUS", "NEXT"):
        assert duty.holiday_moves["2025-01-29T01:00:00Z"] == "Tết Nguyên Đán"
    # The planner writes the same: the moved occurrence keeps its identity (RECURRENCE-ID).
    plan(engine, duties, roster, vn(2025, 1, 20), horizon=timedelta(days=20))
    with engine.connect() as conn:
        rows = conn.execute(select(OccurrenceRow.recurrence_id, OccurrenceRow.start_at)
                            .where(OccurrenceRow.duty_uid == "hop-tuan").order_by(OccurrenceRow.start_at)).all()
    planned_days = [from_naive_utc(r.start_at).astimezone(VN).date().isoformat() for r in rows]
    assert [d for d in planned_days if "2025-01-21" < d < "2025-02-06"] == [
        d for d in ("2025-01-22", tet_day, "2025-02-05") if d]
    if tet_day:
        assert "2025-01-29T01:00:00Z" in [r.recurrence_id for r in rows]
        with engine.connect() as conn:
            reminder = conn.execute(select(DeliveryRow.due_at).join(OccurrenceRow).where(
                OccurrenceRow.recurrence_id == "2025-01-29T01:00:00Z", DeliveryRow.team_id == "dong")).scalar()
        assert from_naive_utc(reminder) == vn(*map(int, tet_day.split("-")), 7, 0)
    # And the calendar feed, read by another library, agrees.
    feed = build_feed(engine, duties, roster, Scope.parse("team:dong"), vn(2025, 1, 20))
    found = recurring_ical_events.of(icalendar.Calendar.from_ical(feed)).between(date(2025, 1, 20), date(2025, 2, 6))
    assert sorted(e["DTSTART"].dt.date().isoformat() for e in found) == [
        d for d in ("2025-01-22", tet_day, "2025-02-05") if d]


def test_bad_holiday_policy_names_file_and_line(tmp_path):
    text = WEEKLY.replace("RRULE:", "X-REMINDER-HOLIDAY:MAYBE\nRRULE:")
    with pytest.raises(InvalidInput) as caught:
        definitions(tmp_path, {"weekly.ics": text})
    line = text.splitlines().index("X-REMINDER-HOLIDAY:MAYBE") + 1
    assert f"weekly.ics:{line} (UID hop-tuan): X-REMINDER-HOLIDAY must be one of KEEP, SKIP, PREVIOUS, NEXT" \
        in str(caught.value)


def test_a_late_reminder_reaching_a_worker_at_night_waits_for_the_morning(tmp_path, database_url):
    """The worker was down all day: at 22:00 the 07:30 reminder is still worth sending (the
    duty lasts until tomorrow evening), but not at night: back to pending until the quiet
    hours end, per team, and the audit trail says so."""
    import io

    from reminders.adapters.console import ConsoleAdapter
    from reminders.jobs.embedded import EmbeddedWorker
    from reminders.runtime import open_runtime
    from reminders.store.audit import list_events
    from reminders.timeutil import VirtualClock

    directory, _, _ = definitions(tmp_path, {"day.ics": event("ca-ngay", "20241001T073000",
                                                              duration="PT36H", alarm="PT0M")})
    settings = settings_for(directory, database_url)
    clock, out = VirtualClock(vn(2024, 10, 1, 7, 0)), io.StringIO()
    rt = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(out, clock)})
    with EmbeddedWorker(rt, settings, worker_threads=1, rate_limits=False, lookahead=timedelta(0)) as worker:
        worker.scheduler.planner.plan(rt.duties, rt.roster, clock())  # planned in the morning, then down
        for when in (vn(2024, 10, 1, 22, 0), vn(2024, 10, 2, 6, 0), vn(2024, 10, 2, 6, 30)):
            clock.set(when)
            worker.scheduler.tick(when)
            worker.drain()
    with rt.engine.connect() as conn:
        sent = {r.team_id: local(r.sent_at) for r in conn.execute(
            select(DeliveryRow.team_id, DeliveryRow.sent_at).where(DeliveryRow.kind == "reminder-0"))}
    # Bắc has no quiet hours: sent late at once; Tây's end at 06:00, Đông's at 06:30.
    assert sent == {"bac": "01 22:00", "tay": "02 06:00", "dong": "02 06:30"}
    held = [(e.recipient, e.detail) for e in list_events(rt.engine) if e.event == "held"]
    assert held == [("team:dong", "reminder-0: held for the quiet hours (21:00-06:30)"),
                    ("team:tay", "reminder-0: held for the quiet hours (22:00-06:00)")]
    rt.engine.dispose()


@pytest.mark.parametrize("policy", ["PREVIOUS", "NEXT"])
def test_a_daily_duty_is_not_piled_onto_one_day_after_tet(tmp_path, policy):
    """Tết 2025 is six days off (27 Jan - 1 Feb). A daily duty moved to the previous or next
    working day would land six times on Friday 24 or Monday 3, which already have their own
    occurrence: those are dropped instead, and every day keeps at most one occurrence."""
    text = event("moi-ngay", "20250101T073000", rule="RRULE:FREQ=DAILY\n", alarm="-PT30M",
                 extra=f"X-REMINDER-HOLIDAY:{policy}\n")
    _, _, duties = definitions(tmp_path, {"daily.ics": text})
    duty = duties["moi-ngay"]
    days = _days(preview_occurrences(duty, date(2025, 1, 20), date(2025, 2, 6)))
    expected = [f"2025-01-{d:02d}" for d in range(20, 27)] + [f"2025-02-{d:02d}" for d in range(2, 7)]
    assert days == expected
    assert len(duty.holiday_moves) >= 6  # the dropped days are still said to be holidays


def test_a_daily_duty_that_began_years_ago_still_keeps_this_years_holidays(tmp_path):
    """The holiday scan used to start at DTSTART and stop after 3,000 occurrences: a daily
    duty begun in 2015 had no holidays applied after 2023."""
    text = event("moi-ngay", "20150101T073000", rule="RRULE:FREQ=DAILY\n", alarm="-PT30M",
                 extra="X-REMINDER-HOLIDAY:SKIP\n")
    _, _, duties = definitions(tmp_path, {"daily.ics": text})
    days = _days(preview_occurrences(duties["moi-ngay"], date(2025, 1, 25), date(2025, 2, 3)))
    assert days == ["2025-01-25", "2025-01-26", "2025-02-02", "2025-02-03"]


def test_a_reminder_before_a_start_in_the_quiet_hours_comes_the_evening_before(tmp_path, engine):
    """The 06:00 loudspeaker programme (until 07:00), reminded at 05:45: waiting for the end of
    the quiet hours (06:30) would remind the team half an hour after it should have started.
    It is said the evening before, at 20:30; where the quiet hours end at 05:00 it keeps 05:45."""
    roster = ROSTER.replace('quiet_hours: "22:00-06:00"', 'quiet_hours: "22:00-05:00"')
    files = {"dawn.ics": event("loa-sang", "20241002T060000", duration="PT1H", alarm="-PT15M"),
             # Reminded after its start (a check that it is on): the morning is still in time.
             "after.ics": event("dang-phat", "20241002T060000", duration="PT2H", alarm="PT5M")}
    _, roster_obj, duties = definitions(tmp_path, files, roster)
    plan(engine, duties, roster_obj, vn(2024, 10, 1, 8, 0))
    assert planned(engine, "loa-sang") == {"dong": "01 20:30", "tay": "02 05:45", "bac": "02 05:45"}
    assert planned(engine, "dang-phat") == {"dong": "02 06:30", "tay": "02 06:05", "bac": "02 06:05"}


def test_a_commune_officials_messages_keep_the_communes_quiet_hours(tmp_path):
    """An escalation or digest to an official carries one of the commune's teams; the hours
    that apply are the official's commune's, not that team's."""
    from types import SimpleNamespace

    from reminders.jobs.send import _quiet_hours_of

    roster = load_roster(definitions(tmp_path, {"day.ics": event("x", "20241001T073000")})[0] / "roster.yaml")
    official = SimpleNamespace(recipient="person:cb", team_id="tay", kind="escalate-commune")
    leader = SimpleNamespace(recipient="person:dung", team_id="tay", kind="reminder-0")
    assert _quiet_hours_of(roster, official) == (DEFAULT, "Asia/Ho_Chi_Minh")
    assert str(_quiet_hours_of(roster, leader)[0]) == "22:00-06:00"
