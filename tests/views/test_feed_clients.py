"""What calendar apps make of a feed: cancelled instances gone, reports shown as events.

Read back with recurring-ical-events and with Mozilla's ical.js under node (tests/js), both
told to list a STATUS:CANCELLED instance as many apps do (struck through, still there).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import recurring_ical_events
from helpers import ical_js, vn

from reminders import load_duties, load_roster
from reminders.store.engine import make_engine
from reminders.views.feeds import Scope, build_feed

OCTOBER = (vn(2024, 10, 1), vn(2024, 11, 1))
RADIO_CANCELLED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VEVENT
UID:radio-chuyen-doi-so@reminders
RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20241011T170000
DTSTART;TZID=Asia/Ho_Chi_Minh:20241011T170000
DURATION:PT30M
SUMMARY:Chuyên mục "Chuyển đổi số" (nghỉ: mất điện)
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""
DUE_ONLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VTODO
UID:nop-danh-sach@test
SUMMARY:Nộp danh sách hộ đã hướng dẫn
DUE;TZID=Asia/Ho_Chi_Minh:20241025T170000
RRULE:FREQ=MONTHLY;BYMONTHDAY=25
X-REMINDER-TO:leader
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;RELATED=END:-PT2H
END:VALARM
END:VTODO
END:VCALENDAR
"""


def feed_of(calendars: Path, tmp_path: Path, scope: str, now: datetime) -> bytes:
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    try:
        return build_feed(engine, duties, roster, Scope.parse(scope), now)
    finally:
        engine.dispose()


def test_a_cancelled_instance_is_left_out_for_every_client(calendars: Path, tmp_path: Path) -> None:
    (calendars / "radio-cancelled.ics").write_text(RADIO_CANCELLED, encoding="utf-8")
    feed = feed_of(calendars, tmp_path, "commune:xa-tan-lap", vn(2024, 10, 2))
    cal = icalendar.Calendar.from_ical(feed)
    radio = [c for c in cal.walk("VEVENT") if str(c["UID"]) == "radio-chuyen-doi-so@reminders"]
    assert [c for c in radio if "RECURRENCE-ID" in c] == [], "the cancelled override is not published"
    [master] = radio
    exdates = [d.dt for prop in (master["EXDATE"] if isinstance(master["EXDATE"], list) else [master["EXDATE"]])
               for d in prop.dts]
    assert [d.astimezone(UTC) for d in exdates] == [datetime(2024, 10, 11, 10, 0, tzinfo=UTC)]
    fridays = [datetime(2024, 10, day, 10, 0, tzinfo=UTC) for day in (4, 18, 25)]
    # recurring-ical-events, every instance whatever its STATUS:
    found = recurring_ical_events.of(cal).between(*OCTOBER)
    assert sorted(e["DTSTART"].dt.astimezone(UTC) for e in found
                  if str(e["UID"]) == "radio-chuyen-doi-so@reminders") == fridays
    # ical.js, listing cancelled instances too:
    seen = ical_js(feed, OCTOBER, with_cancelled=True)["radio-chuyen-doi-so@reminders"]
    assert [datetime.fromisoformat(i["start"]) for i in seen] == fridays
    assert not any(i["cancelled"] for i in seen)


def test_every_duty_is_published_as_an_event(calendars: Path, tmp_path: Path) -> None:
    """Events-only clients (Google Calendar subscriptions, khal) drop a VTODO: reports come as
    VEVENTs, a report with DTSTART and DUE spanning them, one with only a DUE as a short event
    at the due time whose end alarm still comes 2 hours before the due time."""
    (calendars / "due-only.ics").write_text(DUE_ONLY, encoding="utf-8")
    roster = load_roster(calendars / "roster.yaml")
    duties = load_duties(calendars, roster)
    feed = feed_of(calendars, tmp_path, "commune:xa-tan-lap", vn(2024, 10, 2))
    cal = icalendar.Calendar.from_ical(feed)
    assert cal.walk("VTODO") == []
    published = {str(c["UID"]) for c in cal.walk("VEVENT")}
    assert {d.uid for d in duties.values() if d.component == "VTODO"} <= published
    assert published == set(duties)  # the shipped scope holds every duty
    window = (vn(2024, 10, 1), vn(2024, 11, 1))
    events = {str(e["UID"]): e for e in recurring_ical_events.of(cal).between(*window)
              if str(e["UID"]) in ("bao-cao-thang@reminders", "nop-danh-sach@test")}
    monthly = events["bao-cao-thang@reminders"]
    assert (monthly["DTSTART"].dt, monthly["DTEND"].dt) == (vn(2024, 10, 31, 8, 0), vn(2024, 10, 31, 17, 0))
    due = events["nop-danh-sach@test"]
    assert due["DTSTART"].dt == vn(2024, 10, 25, 17, 0)
    assert due["DTEND"].dt - due["DTSTART"].dt == timedelta(minutes=15)
    [alarm] = due.walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(hours=-2) and "RELATED" not in alarm["TRIGGER"].params
    # ical.js sees the reports at the same instants.
    seen = ical_js(feed, window, with_cancelled=True)
    assert [i["start"] for i in seen["nop-danh-sach@test"]] == ["2024-10-25T10:00:00.000Z"]
    assert [i["start"] for i in seen["bao-cao-thang@reminders"]] == ["2024-10-31T01:00:00.000Z"]
