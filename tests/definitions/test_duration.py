"""DURATION is exact time for hours, nominal for days (RFC 5545 3.3.6), in the planner, the
preview and the feed, across the Europe/Berlin DST change of 27 Oct 2024."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import icalendar
import recurring_ical_events
from helpers import ical_js, vn

from reminders import load_duties, load_roster
from reminders.definitions.expand import occurrences, reminder_times
from reminders.store.engine import make_engine
from reminders.views.feeds import Scope, build_feed

NIGHT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VEVENT
UID:truc-dem@test
SUMMARY:Trực đêm
DTSTART;TZID=Europe/Berlin:20241025T200000
DURATION:PT12H
RRULE:FREQ=DAILY;COUNT=4
X-REMINDER-TO:leader
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER;RELATED=END:PT0M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:ca-ngay@test
SUMMARY:Trực cả ngày
DTSTART;TZID=Europe/Berlin:20241026T090000
DURATION:P1D
RRULE:FREQ=DAILY;COUNT=2
X-REMINDER-TO:leader
END:VEVENT
END:VCALENDAR
"""
WINDOW = (datetime(2024, 10, 24, tzinfo=UTC), datetime(2024, 10, 31, tzinfo=UTC))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 20:00 CEST = 18:00Z; the night of the change lasts 12 h of elapsed time: 06:00Z = 07:00 CET.
NIGHTS = [(utc(2024, 10, 25, 18), utc(2024, 10, 26, 6)), (utc(2024, 10, 26, 18), utc(2024, 10, 27, 6)),
          (utc(2024, 10, 27, 19), utc(2024, 10, 28, 7)), (utc(2024, 10, 28, 19), utc(2024, 10, 29, 7))]
# P1D is a nominal day: 09:00 to 09:00 the next day, 25 hours over the change.
DAYS = [(utc(2024, 10, 26, 7), utc(2024, 10, 27, 8)), (utc(2024, 10, 27, 8), utc(2024, 10, 28, 8))]


def test_hours_are_exact_and_days_nominal_in_planning_and_end_alarms(tmp_path):
    (tmp_path / "night.ics").write_text(NIGHT, encoding="utf-8")
    duties = load_duties(tmp_path)
    night = occurrences(duties["truc-dem@test"], *WINDOW)
    assert [(o.start, o.end) for o in night] == NIGHTS
    assert [when for o in night for _, when in reminder_times(duties["truc-dem@test"], o)] == [e for _, e in NIGHTS]
    assert [(o.start, o.end) for o in occurrences(duties["ca-ngay@test"], *WINDOW)] == DAYS


def test_preview_json_says_the_same(calendars, tmp_path):
    (calendars / "night.ics").write_text(NIGHT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env["REMINDERS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'r.db'}"
    result = subprocess.run([sys.executable, "-m", "reminders.cli", "preview", "truc-dem@test", "--from", "2024-10-24",
                             "--to", "2024-10-30", "--json", "--calendars", str(calendars)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    shown = [(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]), o["reminders"][0]["at"])
             for o in json.loads(result.stdout)]
    assert [(s, e) for s, e, _ in shown] == NIGHTS
    assert [datetime.fromisoformat(at) for _, _, at in shown] == [e for _, e in NIGHTS]


def test_the_feed_gives_every_client_the_exact_end(calendars, tmp_path):
    (calendars / "night.ics").write_text(NIGHT.replace("X-REMINDER-TO:leader", "X-REMINDER-FOR:commune:xa-tan-lap"),
                                         encoding="utf-8")
    roster = load_roster(calendars / "roster.yaml")
    engine = make_engine(f"sqlite:///{tmp_path / 'feed.db'}")
    feed = build_feed(engine, load_duties(calendars, roster), roster, Scope.parse("commune:xa-tan-lap"),
                      vn(2024, 10, 20))
    engine.dispose()
    cal = icalendar.Calendar.from_ical(feed)
    spans = sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
                   for e in recurring_ical_events.of(cal).between(*WINDOW) if str(e["UID"]) == "truc-dem@test")
    assert spans == NIGHTS
    seen = ical_js(feed, WINDOW, with_cancelled=True)["truc-dem@test"]
    assert [(datetime.fromisoformat(i["start"]), datetime.fromisoformat(i["end"])) for i in seen] == NIGHTS
    assert sorted(e["DTEND"].dt.astimezone(UTC) - e["DTSTART"].dt.astimezone(UTC)
                  for e in recurring_ical_events.of(cal).between(*WINDOW) if str(e["UID"]) == "ca-ngay@test") \
        == [timedelta(hours=24), timedelta(hours=25)]
