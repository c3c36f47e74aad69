"""VTIMEZONEs a client can read for every year a duty reaches (issue 15.5): a Europe/Berlin
duty in 2045 and 2060 is read by ical.js (which trusts the VTIMEZONE, not its own zone data)
and by recurring-ical-events at the offsets Python's zoneinfo gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
from helpers import ical_js
from test_feed_clients import feed_of

from reminders.definitions.rhythm import parse_rhythm
from reminders.definitions.vtimezone import vtimezone
from reminders.definitions.writer import DutySpec, build_calendar

BERLIN = ZoneInfo("Europe/Berlin")
YEARLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:test
BEGIN:VEVENT
UID:hop-duc@test
SUMMARY:Họp với đối tác Đức
DTSTART;TZID=Europe/Berlin:20240115T090000
DURATION:PT1H
RRULE:FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=15
X-REMINDER-FOR:commune:xa-tan-lap
END:VEVENT
END:VCALENDAR
"""


def expected(*years: int) -> list[datetime]:
    return [datetime(y, m, 15, 9, 0, tzinfo=BERLIN).astimezone(UTC) for y in years for m in (1, 7)]


def test_a_feed_keeps_daylight_saving_after_2041(calendars, tmp_path):
    (calendars / "berlin.ics").write_text(YEARLY, encoding="utf-8")
    feed = feed_of(calendars, tmp_path, "commune:xa-tan-lap", datetime(2026, 12, 4, tzinfo=UTC))
    for years in ((2045,), (2060,)):
        window = (datetime(years[0], 1, 1, tzinfo=UTC), datetime(years[0] + 1, 1, 1, tzinfo=UTC))
        seen = ical_js(feed, window, with_cancelled=True)["hop-duc@test"]
        assert [datetime.fromisoformat(i["start"]) for i in seen] == expected(*years)


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Ho_Chi_Minh",
                                  "America/Sao_Paulo", "Pacific/Fiji"])
def test_the_vtimezone_gives_zoneinfos_offset_every_year(name):
    """Read back by icalendar (its own VTIMEZONE reader), noon on the 1st of every month, 2024-2080."""
    text = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n" + vtimezone(name, date(1970, 1, 1), date(2026, 12, 4)) \
        .to_ical() + b"BEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID=" + name.encode() + b":20240101T120000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    cal = icalendar.Calendar.from_ical(text)
    [zone] = cal.walk("VTIMEZONE")
    tz = zone.to_tz()
    real = ZoneInfo(name)
    for year in range(2024, 2081):
        for month in range(1, 13):
            local = datetime(year, month, 1, 12, 0)
            assert local.replace(tzinfo=tz).utcoffset() == local.replace(tzinfo=real).utcoffset(), (name, local)


def test_duties_new_writes_the_rule_too():
    spec = DutySpec(uid="d@reminders", title="Họp", rhythm=parse_rhythm("thứ hai hằng tuần lúc 9:00",
                                                                       date(2024, 1, 1)),
                    timezone="Europe/Berlin")
    [zone] = build_calendar(spec, datetime(2024, 1, 1, tzinfo=UTC)).walk("VTIMEZONE")
    rules = sorted(str(part["RRULE"].to_ical(), "ascii") for part in zone.subcomponents if "RRULE" in part)
    assert rules == ["FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"]
