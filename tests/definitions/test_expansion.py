"""Expansion equals recurring-ical-events, on the shipped calendars and on tricky cases.

The reference side parses the .ics text itself and asks recurring-ical-events directly;
none of our code is used there. The tricky cases also spell out their occurrences by hand.
Instants are compared as aware UTC datetimes; a DATE is midnight in the calendar's zone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from reminders.definitions.duties import load_duties
from reminders.definitions.expand import absolute_target, alarm_reach, occurrences, reminder_times
from reminders.definitions.model import Duty
from reminders.views.preview import preview_occurrences

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "calendars"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
BERLIN = ZoneInfo("Europe/Berlin")

Span = tuple[datetime, datetime]


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the reference: recurring-ical-events on the file's own text -------------------------------

def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def reference(text: str, uid: str, start: datetime, end: datetime, zone: ZoneInfo = VN) -> list[Span]:
    """(start, end) of each non-cancelled instance of `uid`, straight from recurring-ical-events."""
    calendar = icalendar.Calendar.from_ical(text)
    spans = []
    for comp in recurring_ical_events.of(calendar, components=["VEVENT", "VTODO"]).between(start, end):
        if str(comp["UID"]) != uid or str(comp.get("STATUS", "")).upper() == "CANCELLED":
            continue
        begin = (comp.get("DTSTART") or comp.get("DUE")).dt
        if comp.get("DTEND") is not None:
            finish = comp["DTEND"].dt
        elif comp.get("DUE") is not None:
            finish = comp["DUE"].dt
        elif comp.get("DURATION") is not None:
            finish = begin + comp["DURATION"].dt
        else:
            finish = begin if isinstance(begin, datetime) else begin + timedelta(days=1)
        spans.append((_instant(begin, zone), _instant(finish, zone)))
    return sorted(spans)


def ours(duty: Duty, start: datetime, end: datetime) -> list[Span]:
    return sorted((o.start, o.end) for o in occurrences(duty, start, end) if not o.cancelled)


# -- the shipped calendars -----------------------------------------------------------------------

SHIPPED_WINDOW = (vn(2022, 9, 1), vn(2026, 1, 1))


@pytest.fixture(scope="module")
def shipped() -> dict[str, Duty]:
    return load_duties(SHIPPED)


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.ics")), ids=lambda p: p.name)
def test_shipped_calendar_matches_recurring_ical_events(shipped, path):
    text = path.read_text(encoding="utf-8")
    duties = [d for d in shipped.values() if Path(d.file).resolve() == path.resolve()]
    assert duties, f"no duty loaded from {path.name}"
    for duty in duties:
        mine = ours(duty, *SHIPPED_WINDOW)
        assert mine, f"{duty.uid} has no occurrence in the window"
        assert mine == reference(text, duty.uid, *SHIPPED_WINDOW), duty.uid
        for occ in occurrences(duty, *SHIPPED_WINDOW):
            assert occ.start.tzinfo is not None and occ.start.utcoffset() == timedelta(0)
            assert occ.end >= occ.start


def test_shipped_spot_checks(shipped):
    """A few shipped occurrences spelled out by hand."""
    report = shipped["bao-cao-thang@reminders"]  # last working day, VTODO 08:00-17:00
    starts = [o.start for o in occurrences(report, vn(2024, 8, 1), vn(2024, 12, 1))]
    assert starts == [vn(2024, 8, 30, 8), vn(2024, 9, 30, 8), vn(2024, 10, 31, 8), vn(2024, 11, 29, 8)]
    pilot = shipped["thi-diem-truyen-thong-2022@reminders"]  # UNTIL=20230930T165959Z
    pilot_starts = [o.start for o in occurrences(pilot, *SHIPPED_WINDOW)]
    assert pilot_starts[0] == vn(2022, 10, 3, 8) and pilot_starts[-1] == vn(2023, 9, 25, 8)
    assert len(pilot_starts) == 52
    national = shipped["ngay-chuyen-doi-so-quoc-gia@reminders"]
    (day,) = occurrences(national, vn(2024, 10, 1), vn(2024, 11, 1))
    assert day.all_day and day.recurrence_id == "2024-10-10"
    assert (day.start, day.end) == (vn(2024, 10, 10), vn(2024, 10, 11))
    assert [due for _, due in reminder_times(national, day)] == [vn(2024, 10, 9, 17), vn(2024, 10, 10, 7)]


# -- tricky cases --------------------------------------------------------------------------------

def vcalendar(*components: str, zone: str | None = "Asia/Ho_Chi_Minh") -> str:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//reminders tests//expansion//EN"]
    if zone:
        head.append(f"X-WR-TIMEZONE:{zone}")
    body = [line.strip() for comp in components for line in comp.strip().splitlines() if line.strip()]
    return "\r\n".join([*head, *body, "END:VCALENDAR"]) + "\r\n"


def vevent(uid: str, *lines: str, summary: str = "Việc thử") -> str:
    return "\n".join(["BEGIN:VEVENT", f"UID:{uid}", f"SUMMARY:{summary}", *lines, "END:VEVENT"])


def valarm(trigger: str, *lines: str) -> str:
    return "\n".join(["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Nhắc", f"TRIGGER{trigger}",
                      *lines, "END:VALARM"])


FRIDAYS = "DTSTART;TZID=Asia/Ho_Chi_Minh:20240105T170000", "DURATION:PT30M"

EXDATE_ICS = vcalendar(vevent(
    "exdate@t", *FRIDAYS, "RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=4",
    "EXDATE;TZID=Asia/Ho_Chi_Minh:20240112T170000",
    "EXDATE:20240119T100000Z",  # the same instant written in UTC
))

RDATE_ICS = vcalendar(vevent(
    "rdate@t", *FRIDAYS, "RRULE:FREQ=WEEKLY;COUNT=2",
    "RDATE;TZID=Asia/Ho_Chi_Minh:20240110T090000",
))

MOVED_ICS = vcalendar(
    vevent("moved@t", *FRIDAYS, "RRULE:FREQ=WEEKLY;COUNT=3", valarm(":-PT2H")),
    # 12 Jan 17:00 moved to Saturday 13 Jan 09:00-10:00, no VALARM of its own.
    vevent("moved@t", "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20240112T170000",
           "DTSTART;TZID=Asia/Ho_Chi_Minh:20240113T090000",
           "DTEND;TZID=Asia/Ho_Chi_Minh:20240113T100000", summary="Dời sang thứ Bảy"),
    # 19 Jan keeps its time but has its own reminder, a day ahead.
    vevent("moved@t", "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20240119T170000",
           "DTSTART;TZID=Asia/Ho_Chi_Minh:20240119T170000", "DURATION:PT30M", valarm(":-P1D")),
)

CANCELLED_ICS = vcalendar(
    vevent("cancelled@t", *FRIDAYS, "RRULE:FREQ=WEEKLY;COUNT=3", valarm(":-PT2H")),
    vevent("cancelled@t", "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20240112T170000",
           "DTSTART;TZID=Asia/Ho_Chi_Minh:20240112T170000", "DURATION:PT30M", "STATUS:CANCELLED"),
)

LAST_WORKING_DAY_ICS = vcalendar(vevent(
    "last-working-day@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20240131T080000", "DURATION:PT9H",
    "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
))
LAST_WORKING_DAYS = [
    date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 29), date(2024, 4, 30), date(2024, 5, 31),
    date(2024, 6, 28), date(2024, 7, 31), date(2024, 8, 30), date(2024, 9, 30), date(2024, 10, 31),
    date(2024, 11, 29), date(2024, 12, 31), date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31),
    date(2025, 4, 30), date(2025, 5, 30), date(2025, 6, 30),
]

ALL_DAY_ICS = vcalendar(vevent(
    "all-day@t", "DTSTART;VALUE=DATE:20241010", "RRULE:FREQ=YEARLY;COUNT=2",
    valarm(":-PT15H"), valarm(";RELATED=END:-PT1H"),
))

UNTIL_ICS = vcalendar(
    # UNTIL is inclusive: 01:00Z on 5 Jan is exactly the 08:00 local start of that day.
    vevent("until-inclusive@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20240101T080000", "DURATION:PT1H",
           "RRULE:FREQ=DAILY;UNTIL=20240105T010000Z"),
    vevent("until-just-before@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20240101T080000", "DURATION:PT1H",
           "RRULE:FREQ=DAILY;UNTIL=20240105T005959Z"),
)

COUNT_ICS = vcalendar(vevent(
    "count@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20240115T190000",
    "DTEND;TZID=Asia/Ho_Chi_Minh:20240115T200000", "RRULE:FREQ=MONTHLY;COUNT=3",
))

# Berlin falls back from CEST (+02:00) to CET (+01:00) on Sunday 27 October 2024.
BERLIN_ICS = vcalendar(
    vevent("berlin@t", "DTSTART;TZID=Europe/Berlin:20241014T090000", "DURATION:PT1H",
           "RRULE:FREQ=WEEKLY;COUNT=4", valarm(":-PT30M")),
    vevent("hcm-beside-berlin@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20241014T090000", "DURATION:PT1H",
           "RRULE:FREQ=WEEKLY;COUNT=4", valarm(":-PT30M")),
    vevent("berlin-floating@t", "DTSTART:20241014T090000", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4"),
    # Written in UTC, as some exporters do: X-WR-TIMEZONE makes it 09:00 Berlin time.
    vevent("berlin-utc@t", "DTSTART:20241014T070000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4"),
    zone="Europe/Berlin",
)

# A zone defined only by its VTIMEZONE, with its own DST rules. (Without TZNAME lines,
# x-wr-timezone, inside recurring-ical-events, would take these times for floating ones.)
VTIMEZONE_ICS = vcalendar(
    "\n".join([
        "BEGIN:VTIMEZONE", "TZID:Giờ Trung Âu",
        "BEGIN:STANDARD", "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
        "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "END:DAYLIGHT",
        "END:VTIMEZONE",
    ]),
    vevent("vtimezone@t", "DTSTART;TZID=Giờ Trung Âu:20241021T090000", "DURATION:PT1H",
           "RRULE:FREQ=WEEKLY;COUNT=2"),
)

TODO_ICS = vcalendar("\n".join([
    # Monthly on the 31st: months without a 31st are skipped (RFC 5545).
    "BEGIN:VTODO", "UID:todo-due@t", "SUMMARY:Nộp báo cáo", "DUE;TZID=Asia/Ho_Chi_Minh:20240131T170000",
    "RRULE:FREQ=MONTHLY;COUNT=3", valarm(";RELATED=END:-PT3H"), "END:VTODO",
]))

ABSOLUTE_ICS = vcalendar(
    vevent("absolute@t", "DTSTART;TZID=Asia/Ho_Chi_Minh:20240902T080000", "DURATION:PT1H",
           "RRULE:FREQ=WEEKLY;BYDAY=MO",
           valarm(":-PT1H"),
           valarm(";VALUE=DATE-TIME:20241002T020000Z"),  # Wednesday: for Monday 7 Oct
           valarm(";VALUE=DATE-TIME:20240930T013000Z"),  # during Monday 30 Sep 08:00-09:00
           valarm(";VALUE=DATE-TIME:20241009T000000Z")),  # 14 Oct is cancelled: for 21 Oct
    vevent("absolute@t", "RECURRENCE-ID;TZID=Asia/Ho_Chi_Minh:20241014T080000",
           "DTSTART;TZID=Asia/Ho_Chi_Minh:20241014T080000", "DURATION:PT1H", "STATUS:CANCELLED"),
)


def hcm(day: date, hour: int, minute: int = 0, *, length: timedelta) -> Span:
    start = datetime.combine(day, time(hour, minute), tzinfo=VN)
    return start.astimezone(UTC), (start + length).astimezone(UTC)


HALF_HOUR, HOUR = timedelta(minutes=30), timedelta(hours=1)


@dataclass(frozen=True)
class Case:
    ics: str
    uid: str
    expected: list[Span]  # non-cancelled occurrences in the window, by hand
    window: tuple[datetime, datetime] = (vn(2024, 1, 1), vn(2025, 1, 1))
    zone: ZoneInfo = VN  # where a DATE's midnight is


CASES = {
    "exdate": Case(EXDATE_ICS, "exdate@t", [
        hcm(date(2024, 1, 5), 17, length=HALF_HOUR), hcm(date(2024, 1, 26), 17, length=HALF_HOUR)]),
    "rdate": Case(RDATE_ICS, "rdate@t", [
        hcm(date(2024, 1, 5), 17, length=HALF_HOUR), hcm(date(2024, 1, 10), 9, length=HALF_HOUR),
        hcm(date(2024, 1, 12), 17, length=HALF_HOUR)]),
    "recurrence-id-moved": Case(MOVED_ICS, "moved@t", [
        hcm(date(2024, 1, 5), 17, length=HALF_HOUR), hcm(date(2024, 1, 13), 9, length=HOUR),
        hcm(date(2024, 1, 19), 17, length=HALF_HOUR)]),
    "recurrence-id-cancelled": Case(CANCELLED_ICS, "cancelled@t", [
        hcm(date(2024, 1, 5), 17, length=HALF_HOUR), hcm(date(2024, 1, 19), 17, length=HALF_HOUR)]),
    "bysetpos-last-working-day": Case(
        LAST_WORKING_DAY_ICS, "last-working-day@t",
        [hcm(day, 8, length=timedelta(hours=9)) for day in LAST_WORKING_DAYS],
        window=(vn(2024, 1, 1), vn(2025, 7, 1))),
    "all-day-valarm": Case(ALL_DAY_ICS, "all-day@t", [
        (utc(2024, 10, 9, 17), utc(2024, 10, 10, 17)), (utc(2025, 10, 9, 17), utc(2025, 10, 10, 17))],
        window=(vn(2024, 1, 1), vn(2026, 1, 1))),
    "until-utc-inclusive": Case(UNTIL_ICS, "until-inclusive@t", [
        hcm(date(2024, 1, d), 8, length=HOUR) for d in (1, 2, 3, 4, 5)]),
    "until-utc-just-before": Case(UNTIL_ICS, "until-just-before@t", [
        hcm(date(2024, 1, d), 8, length=HOUR) for d in (1, 2, 3, 4)]),
    "count": Case(COUNT_ICS, "count@t", [
        hcm(date(2024, m, 15), 19, length=HOUR) for m in (1, 2, 3)]),
    "berlin-dst": Case(BERLIN_ICS, "berlin@t", [
        (utc(2024, 10, 14, 7), utc(2024, 10, 14, 8)), (utc(2024, 10, 21, 7), utc(2024, 10, 21, 8)),
        (utc(2024, 10, 28, 8), utc(2024, 10, 28, 9)), (utc(2024, 11, 4, 8), utc(2024, 11, 4, 9))],
        zone=BERLIN),
    "hcm-beside-berlin": Case(BERLIN_ICS, "hcm-beside-berlin@t", [
        (utc(2024, 10, d, 2), utc(2024, 10, d, 3)) for d in (14, 21, 28)]
        + [(utc(2024, 11, 4, 2), utc(2024, 11, 4, 3))], zone=BERLIN),
    "berlin-floating-x-wr-timezone": Case(BERLIN_ICS, "berlin-floating@t", [
        (utc(2024, 10, 14, 7), utc(2024, 10, 14, 8)), (utc(2024, 10, 21, 7), utc(2024, 10, 21, 8)),
        (utc(2024, 10, 28, 8), utc(2024, 10, 28, 9)), (utc(2024, 11, 4, 8), utc(2024, 11, 4, 9))],
        zone=BERLIN),
    "berlin-utc-x-wr-timezone": Case(BERLIN_ICS, "berlin-utc@t", [
        (utc(2024, 10, 14, 7), utc(2024, 10, 14, 8)), (utc(2024, 10, 21, 7), utc(2024, 10, 21, 8)),
        (utc(2024, 10, 28, 8), utc(2024, 10, 28, 9)), (utc(2024, 11, 4, 8), utc(2024, 11, 4, 9))],
        zone=BERLIN),
    "vtimezone-only-tzid": Case(VTIMEZONE_ICS, "vtimezone@t", [
        (utc(2024, 10, 21, 7), utc(2024, 10, 21, 8)), (utc(2024, 10, 28, 8), utc(2024, 10, 28, 9))]),
    "vtodo-due-only": Case(TODO_ICS, "todo-due@t", [
        hcm(date(2024, m, 31), 17, length=timedelta(0)) for m in (1, 3, 5)]),
    "absolute-trigger": Case(ABSOLUTE_ICS, "absolute@t", [
        hcm(day, 8, length=HOUR) for day in (
            date(2024, 9, 2), date(2024, 9, 9), date(2024, 9, 16), date(2024, 9, 23), date(2024, 9, 30),
            date(2024, 10, 7), date(2024, 10, 21), date(2024, 10, 28))],
        window=(vn(2024, 9, 1), vn(2024, 11, 1))),
}

# Known divergences from recurring-ical-events, with the reason (none at present).
KNOWN_BUGS: dict[str, str] = {}


def _case_params(*, known_bugs: bool) -> list:
    params = []
    for name, case in CASES.items():
        marks = [pytest.mark.xfail(reason=KNOWN_BUGS[name], strict=True)] if (
            known_bugs and name in KNOWN_BUGS) else []
        params.append(pytest.param(name, case, id=name, marks=marks))
    return params


def load_case(tmp_path: Path, case: Case) -> Duty:
    directory = tmp_path / "calendars"
    directory.mkdir(exist_ok=True)
    (directory / "case.ics").write_text(case.ics, encoding="utf-8")
    return load_duties(directory)[case.uid]


@pytest.fixture
def duty_of(tmp_path):
    return lambda name: load_case(tmp_path, CASES[name])


@pytest.mark.parametrize(("name", "case"), _case_params(known_bugs=True))
def test_case_matches_hand_and_recurring_ical_events(tmp_path, name, case):
    duty = load_case(tmp_path, case)
    assert reference(case.ics, case.uid, *case.window, zone=case.zone) == case.expected
    assert ours(duty, *case.window) == case.expected


@pytest.mark.parametrize(("name", "case"), _case_params(known_bugs=False))
def test_every_reminder_is_within_alarm_reach(tmp_path, name, case):
    """The planner expands [since - after, until + before): every reminder due in
    [since, until) must belong to an occurrence that window finds."""
    duty = load_case(tmp_path, case)
    before, after = alarm_reach(duty)
    for occ in occurrences(duty, *case.window):
        for alarm, due in reminder_times(duty, occ):
            assert occ.start - before <= due <= occ.end + after, (occ.recurrence_id, alarm.key, due)


def _by_rid(duty: Duty, start: datetime, end: datetime):
    return {o.recurrence_id: o for o in occurrences(duty, start, end)}


def _dues(duty: Duty, occ) -> list[datetime]:
    return [due for _, due in reminder_times(duty, occ)]


def test_exdate_and_rdate_keys(duty_of):
    assert list(_by_rid(duty_of("exdate"), vn(2024, 1, 1), vn(2024, 2, 1))) == [
        "2024-01-05T10:00:00Z", "2024-01-26T10:00:00Z"]
    rdate = _by_rid(duty_of("rdate"), vn(2024, 1, 1), vn(2024, 2, 1))
    assert list(rdate) == ["2024-01-05T10:00:00Z", "2024-01-10T02:00:00Z", "2024-01-12T10:00:00Z"]


def test_moved_occurrence_keeps_its_recurrence_id_and_inherits_alarms(duty_of):
    duty = duty_of("recurrence-id-moved")
    occs = _by_rid(duty, vn(2024, 1, 1), vn(2024, 2, 1))
    assert list(occs) == ["2024-01-05T10:00:00Z", "2024-01-12T10:00:00Z", "2024-01-19T10:00:00Z"]
    moved = occs["2024-01-12T10:00:00Z"]
    assert (moved.start, moved.end) == (vn(2024, 1, 13, 9), vn(2024, 1, 13, 10))
    assert not moved.cancelled and moved.summary == "Dời sang thứ Bảy"
    assert _dues(duty, moved) == [vn(2024, 1, 13, 7)]  # the master's -PT2H, from the new start
    assert _dues(duty, occs["2024-01-05T10:00:00Z"]) == [vn(2024, 1, 5, 15)]
    assert _dues(duty, occs["2024-01-19T10:00:00Z"]) == [vn(2024, 1, 18, 17)]  # its own -P1D
    # A window holding only the new time finds it; one holding only the old time does not.
    assert list(_by_rid(duty, vn(2024, 1, 13), vn(2024, 1, 14))) == ["2024-01-12T10:00:00Z"]
    assert _by_rid(duty, vn(2024, 1, 12), vn(2024, 1, 13)) == {}


def test_cancelled_occurrence_is_marked_and_has_no_reminders(duty_of):
    duty = duty_of("recurrence-id-cancelled")
    occs = _by_rid(duty, vn(2024, 1, 1), vn(2024, 2, 1))
    assert [rid for rid, o in occs.items() if o.cancelled] == ["2024-01-12T10:00:00Z"]
    assert reminder_times(duty, occs["2024-01-12T10:00:00Z"]) == []
    assert _dues(duty, occs["2024-01-19T10:00:00Z"]) == [vn(2024, 1, 19, 15)]


def test_last_working_day_spot_checks(duty_of):
    duty = duty_of("bysetpos-last-working-day")
    days = [o.start.astimezone(VN).date() for o in occurrences(duty, vn(2024, 1, 1), vn(2025, 7, 1))]
    for day in (date(2024, 8, 30), date(2024, 11, 29), date(2025, 5, 30), date(2024, 3, 29)):
        assert day in days
    assert date(2024, 8, 31) not in days and date(2024, 11, 30) not in days
    assert all(day.weekday() < 5 for day in days)


def test_all_day_alarms(duty_of):
    duty = duty_of("all-day-valarm")
    (occ,) = occurrences(duty, vn(2024, 10, 1), vn(2024, 11, 1))
    assert occ.all_day and occ.recurrence_id == "2024-10-10"
    # -PT15H from local midnight is 09:00 the day before; RELATED=END -PT1H is 23:00 that day.
    assert _dues(duty, occ) == [vn(2024, 10, 9, 9), vn(2024, 10, 10, 23)]


def test_berlin_dst_beside_ho_chi_minh(duty_of):
    berlin_duty, hcm_duty = duty_of("berlin-dst"), duty_of("hcm-beside-berlin")
    window = (vn(2024, 10, 1), vn(2024, 12, 1))
    berlin_occs = occurrences(berlin_duty, *window)
    assert [o.start.astimezone(BERLIN) for o in berlin_occs] == [
        berlin(2024, 10, d, 9) for d in (14, 21, 28)] + [berlin(2024, 11, 4, 9)]
    assert [o.recurrence_id for o in berlin_occs] == [
        "2024-10-14T07:00:00Z", "2024-10-21T07:00:00Z", "2024-10-28T08:00:00Z", "2024-11-04T08:00:00Z"]
    assert [_dues(berlin_duty, o) for o in berlin_occs] == [
        [utc(2024, 10, 14, 6, 30)], [utc(2024, 10, 21, 6, 30)],
        [utc(2024, 10, 28, 7, 30)], [utc(2024, 11, 4, 7, 30)]]
    assert [o.start for o in occurrences(hcm_duty, *window)] == [
        vn(2024, 10, d, 9) for d in (14, 21, 28)] + [vn(2024, 11, 4, 9)]


def test_todo_with_due_only(duty_of):
    duty = duty_of("vtodo-due-only")
    occs = occurrences(duty, vn(2024, 1, 1), vn(2025, 1, 1))
    assert [(o.start, o.end) for o in occs] == [(vn(2024, m, 31, 17), vn(2024, m, 31, 17)) for m in (1, 3, 5)]
    assert [o.recurrence_id for o in occs] == [
        "2024-01-31T10:00:00Z", "2024-03-31T10:00:00Z", "2024-05-31T10:00:00Z"]
    assert [_dues(duty, o) for o in occs] == [[vn(2024, m, 31, 14)] for m in (1, 3, 5)]


def test_absolute_trigger_belongs_to_exactly_one_occurrence(duty_of):
    duty = duty_of("absolute-trigger")
    occs = occurrences(duty, vn(2024, 8, 1), vn(2025, 1, 1))
    absolute = [a for a in duty.alarms if a.absolute is not None]
    assert [a.absolute for a in absolute] == [
        utc(2024, 10, 2, 2), utc(2024, 9, 30, 1, 30), utc(2024, 10, 9)]
    owners = {a.key: [o.recurrence_id for o in occs if any(x is a for x, _ in reminder_times(duty, o))]
              for a in absolute}
    assert owners == {
        "reminder-1": ["2024-10-07T01:00:00Z"],  # the next occurrence after the trigger
        "reminder-2": ["2024-09-30T01:00:00Z"],  # the one under way at the trigger
        "reminder-3": ["2024-10-21T01:00:00Z"],  # 14 Oct is cancelled, so the one after
    }
    assert {a.key: absolute_target(duty, a) for a in absolute} == {k: v[0] for k, v in owners.items()}
    # Every other occurrence keeps just its relative -PT1H reminder.
    for occ in occs:
        relative = [due for alarm, due in reminder_times(duty, occ) if alarm.absolute is None]
        assert relative == ([] if occ.cancelled else [occ.start - HOUR])


def test_absolute_trigger_is_reached_from_its_due_time(duty_of):
    """Planning a window around an absolute trigger must find its occurrence, even days later."""
    duty = duty_of("absolute-trigger")
    before, after = alarm_reach(duty)
    due = utc(2024, 10, 2, 2)
    found = [o.recurrence_id for o in occurrences(duty, due - after, due + timedelta(hours=1) + before)]
    assert "2024-10-07T01:00:00Z" in found


def test_preview_of_moved_cancelled_and_dst(duty_of):
    moved = preview_occurrences(duty_of("recurrence-id-moved"), date(2024, 1, 1), date(2024, 1, 31))
    assert [(i["recurrence_id"], i["start"]) for i in moved] == [
        ("2024-01-05T10:00:00Z", "2024-01-05T17:00:00+07:00"),
        ("2024-01-12T10:00:00Z", "2024-01-13T09:00:00+07:00"),
        ("2024-01-19T10:00:00Z", "2024-01-19T17:00:00+07:00")]
    cancelled = preview_occurrences(duty_of("recurrence-id-cancelled"), date(2024, 1, 1), date(2024, 1, 31))
    assert [(i["cancelled"], i["reminders"] == []) for i in cancelled] == [
        (False, False), (True, True), (False, False)]
    berlin_items = preview_occurrences(duty_of("berlin-dst"), date(2024, 10, 20), date(2024, 10, 31))
    assert [(i["start"], i["end"], [r["at"] for r in i["reminders"]]) for i in berlin_items] == [
        ("2024-10-21T09:00:00+02:00", "2024-10-21T10:00:00+02:00", ["2024-10-21T08:30:00+02:00"]),
        ("2024-10-28T09:00:00+01:00", "2024-10-28T10:00:00+01:00", ["2024-10-28T08:30:00+01:00"])]


# -- `reminders preview --json` ------------------------------------------------------------------

def preview_json(uid: str, first: str, last: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "reminders.cli", "preview", uid, "--from", first, "--to", last, "--json",
         "--calendars", str(SHIPPED), "--roster", str(SHIPPED / "roster.yaml")],
        cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert isinstance(items, list)
    for item in items:
        assert {"uid", "recurrence_id", "start", "end", "reminders"} <= set(item)
        assert item["uid"] == uid
    return items


def _offset(text: str) -> timedelta | None:
    return datetime.fromisoformat(text).utcoffset()


def test_preview_json_campaign():
    items = preview_json("chien-dich-di-tung-ngo@reminders", "2024-10-01", "2024-10-11")
    assert len(items) == 10
    for day, item in enumerate(items, 1):
        assert item["start"] == f"2024-10-{day:02d}T07:30:00+07:00"
        assert item["end"] == f"2024-10-{day:02d}T19:30:00+07:00"
        assert item["recurrence_id"] == f"2024-10-{day:02d}T00:30:00Z"
        ats = [r["at"] for r in item["reminders"]]
        assert ats == [f"2024-10-{day:02d}T07:00:00+07:00", f"2024-10-{day:02d}T19:30:00+07:00"]
        assert all(_offset(t) == timedelta(hours=7) for t in [item["start"], item["end"], *ats])


def test_preview_json_all_day_is_a_date():
    (item,) = preview_json("ngay-chuyen-doi-so-quoc-gia@reminders", "2024-10-01", "2024-10-11")
    assert item["start"] == "2024-10-10" and item["recurrence_id"] == "2024-10-10"
    assert date.fromisoformat(item["start"]) == date(2024, 10, 10)
    assert date.fromisoformat(item["end"]) == date(2024, 10, 11)
    ats = [r["at"] for r in item["reminders"]]
    assert ats == ["2024-10-09T17:00:00+07:00", "2024-10-10T07:00:00+07:00"]
    assert all(_offset(t) == timedelta(hours=7) for t in ats)
