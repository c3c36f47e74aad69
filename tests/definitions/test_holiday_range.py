"""The holiday policy holds for every year, whatever day the files were loaded (issue 15.2).

It used to be written at load time for last year to two years ahead only: loaded in 2026,
30 Apr 2024 was not moved and Tết 2029 was kept by a SKIP duty. The worker below runs on a
virtual clock in 2029 and in 2024, far from the real day the files are loaded.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import icalendar
import recurring_ical_events
from helpers import VN, settings_for, vn
from sqlalchemy import select

from reminders import load_duties, load_roster
from reminders.adapters.console import ConsoleAdapter
from reminders.jobs.embedded import EmbeddedWorker
from reminders.runtime import open_runtime
from reminders.store.engine import make_engine
from reminders.store.models import OccurrenceRow
from reminders.timeutil import VirtualClock, from_naive_utc
from reminders.views.feeds import Scope, build_feed
from reminders.views.preview import preview_occurrences

# Tuesdays at 09:00: 30 Apr 2024 (Reunification Day, then 1 May), Tết 2029 starts Tuesday 13 Feb.
TUESDAYS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VEVENT
UID:{uid}
SUMMARY:Họp tổ thứ Ba
DTSTART;TZID=Asia/Ho_Chi_Minh:20240102T090000
DURATION:PT1H
RRULE:FREQ=WEEKLY;BYDAY=TU
X-REMINDER-HOLIDAY:{policy}
X-REMINDER-FOR:all
X-REMINDER-TO:leader
END:VEVENT
END:VCALENDAR
"""
APRIL_2024 = (date(2024, 4, 22), date(2024, 5, 8))
TET_2029 = (date(2029, 2, 5), date(2029, 2, 28))


def write(folder, policy: str, uid: str = "thu-ba@test") -> None:
    (folder / f"{uid}.ics").write_text(tuesdays(uid, policy), encoding="utf-8")


def tuesdays(uid: str, policy: str) -> str:
    return TUESDAYS.format(uid=uid, policy=policy)


def days(duty, window) -> list[str]:
    return [item["start"][:10] for item in preview_occurrences(duty, *window)]


def test_preview_applies_the_policy_in_any_year(calendars):
    write(calendars, "NEXT", "tiep@test")
    write(calendars, "SKIP", "bo@test")
    duties = load_duties(calendars, load_roster(calendars / "roster.yaml"))
    # 30 Apr and 1 May are holidays: the next working day is Thursday 2 May.
    assert days(duties["tiep@test"], APRIL_2024) == ["2024-04-23", "2024-05-02", "2024-05-07"]
    assert days(duties["bo@test"], TET_2029) == ["2029-02-06", "2029-02-20", "2029-02-27"]
    assert days(duties["bo@test"], (date(2061, 1, 1), date(2061, 12, 31))).count("2061-09-02") == 0  # Quốc khánh


def test_the_answer_does_not_depend_on_the_order_years_are_asked_for(calendars):
    write(calendars, "PREVIOUS")
    roster = load_roster(calendars / "roster.yaml")
    first, second = load_duties(calendars, roster), load_duties(calendars, roster)
    forward = [days(first["thu-ba@test"], w) for w in (APRIL_2024, TET_2029)]
    backward = [days(second["thu-ba@test"], w) for w in (TET_2029, APRIL_2024)][::-1]
    assert forward == backward
    assert forward[0] == ["2024-04-23", "2024-04-26", "2024-05-07"]  # 29 April was a day off too (swapped in 2024)
    assert first["thu-ba@test"].holiday_moves == second["thu-ba@test"].holiday_moves


def test_the_worker_on_a_virtual_clock_in_2029_skips_tet(calendars, tmp_path):
    write(calendars, "SKIP")
    settings = settings_for(calendars, f"sqlite:///{tmp_path / 'r.db'}")
    clock = VirtualClock(vn(2029, 2, 1, 8, 0))
    runtime = open_runtime(settings, clock=clock, adapters={"console": ConsoleAdapter(io.StringIO(), clock)})
    with EmbeddedWorker(runtime, settings) as worker:
        for day in range(0, 28, 7):
            clock.set(vn(2029, 2, 1, 8, 0) + timedelta(days=day))
            worker.scheduler.tick()
            worker.drain()
    with runtime.engine.connect() as conn:
        starts = [from_naive_utc(r.start_at).astimezone(VN).date().isoformat() for r in conn.execute(
            select(OccurrenceRow.start_at).where(OccurrenceRow.duty_uid == "thu-ba@test",
                                                 OccurrenceRow.status == "scheduled"))]
    runtime.engine.dispose()
    assert "2029-02-13" not in starts and {"2029-02-06", "2029-02-20"} <= set(starts)


def test_a_feed_built_in_2024_carries_the_policy_years_ahead(calendars, tmp_path):
    write(calendars, "NEXT")
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    feed = build_feed(engine, duties, roster, Scope.parse("team:thon-dong"), vn(2024, 4, 1))
    engine.dispose()
    cal = icalendar.Calendar.from_ical(feed)

    def seen(window) -> list[str]:
        return sorted(e["DTSTART"].dt.date().isoformat() for e in recurring_ical_events.of(cal).between(*window)
                      if str(e["UID"]) == "thu-ba@test")

    assert seen(APRIL_2024) == ["2024-04-23", "2024-05-02", "2024-05-07"]
    fresh = load_duties(calendars, roster)["thu-ba@test"]
    assert seen(TET_2029) == days(fresh, TET_2029)
    assert "2029-02-13" not in seen(TET_2029)
