"""Plain-words rhythms, Vietnamese and English: the RRULE they give, the dates it brings
(expanded by the worker's own path: icswrite -> load_duties -> expand), and refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import icalendar
import pytest

from reminders.cli.duties import next_occurrences
from reminders.definitions.duties import load_duties
from reminders.definitions.rhythm import (
    RhythmError,
    describe,
    first_occurrences,
    parse_offset,
    parse_rhythm,
)
from reminders.definitions.writer import DutySpec, build_calendar

VN = "Asia/Ho_Chi_Minh"


def rule(text: str) -> dict:
    return {k: [str(v) for v in values] for k, values in icalendar.vRecur.from_ical(text).items()}


def expand(tmp_path: Path, phrase: str, start: date, count: int = 5) -> list:
    """The next `count` occurrences (local dates or 'YYYY-MM-DD HH:MM') the way the worker sees them."""
    rhythm = parse_rhythm(phrase, start)
    spec = DutySpec(uid="t@reminders", title="Thử", rhythm=rhythm)
    folder = tmp_path / "cal"
    folder.mkdir(exist_ok=True)
    (folder / "t.ics").write_bytes(build_calendar(spec, datetime(2024, 1, 1, tzinfo=UTC)).to_ical())
    duty = load_duties(folder)["t@reminders"]
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(VN)
    first = datetime.combine(rhythm.first, time(0), tzinfo=zone)
    found = next_occurrences(duty, first, count)
    return [o.start.astimezone(zone).date().isoformat() if o.all_day
            else o.start.astimezone(zone).strftime("%Y-%m-%d %H:%M") for o in found]


WEEKLY_FRIDAY = ("FREQ=WEEKLY;BYDAY=FR", time(17, 0))
CAMPAIGN = ("FREQ=YEARLY;BYMONTH=10;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10", None)
LAST_WORKING_DAY = ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", None)

CASES = [
    # phrase, expected (RRULE, time)
    ("hàng tuần vào thứ Sáu lúc 17:00", WEEKLY_FRIDAY),
    ("hằng tuần vào thứ Sáu lúc 17:00", WEEKLY_FRIDAY),
    ("Hằng Tuần Vào Thứ Sáu Lúc 17h", WEEKLY_FRIDAY),
    ("hang tuan vao thu sau luc 17:00", WEEKLY_FRIDAY),
    ("thứ 6 hằng tuần lúc 5 giờ chiều", WEEKLY_FRIDAY),
    ("every Friday at 17:00", WEEKLY_FRIDAY),
    ("weekly on Friday at 5pm", WEEKLY_FRIDAY),
    ("Every friday at 5 PM", WEEKLY_FRIDAY),
    ("ngày 1 đến 10 tháng 10 hằng năm", CAMPAIGN),
    ("từ ngày 1 đến ngày 10 tháng 10 hằng năm", CAMPAIGN),
    ("ngay 1-10 thang 10 hang nam", CAMPAIGN),
    ("1–10/10 hằng năm", CAMPAIGN),
    ("1–10 October every year", CAMPAIGN),
    ("1-10 October every year", CAMPAIGN),
    ("1 to 10 October every year", CAMPAIGN),
    ("October 1-10, yearly", CAMPAIGN),
    ("ngày làm việc cuối cùng của tháng", LAST_WORKING_DAY),
    ("Ngay lam viec cuoi cung cua thang", LAST_WORKING_DAY),
    ("last working day of the month", LAST_WORKING_DAY),
    ("the last business day of every month", LAST_WORKING_DAY),
    ("hằng ngày", ("FREQ=DAILY", None)),
    ("mỗi ngày lúc 7:30", ("FREQ=DAILY", time(7, 30))),
    ("every day", ("FREQ=DAILY", None)),
    ("daily at 7:30am", ("FREQ=DAILY", time(7, 30))),
    ("thứ Hai và thứ Năm", ("FREQ=WEEKLY;BYDAY=MO,TH", None)),
    ("hằng tuần vào thứ Hai, thứ Năm lúc 8 giờ sáng", ("FREQ=WEEKLY;BYDAY=MO,TH", time(8, 0))),
    ("every Monday and Thursday at 8:00", ("FREQ=WEEKLY;BYDAY=MO,TH", time(8, 0))),
    ("từ thứ Hai đến thứ Sáu lúc 7:00", ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", time(7, 0))),
    ("every weekday at 7:00", ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", time(7, 0))),
    ("ngày 5 hằng tháng", ("FREQ=MONTHLY;BYMONTHDAY=5", None)),
    ("mùng 5 hàng tháng lúc 8:00", ("FREQ=MONTHLY;BYMONTHDAY=5", time(8, 0))),
    ("the 5th of every month", ("FREQ=MONTHLY;BYMONTHDAY=5", None)),
    ("monthly on the 5th at 8am", ("FREQ=MONTHLY;BYMONTHDAY=5", time(8, 0))),
    ("ngày 1 và 15 hằng tháng", ("FREQ=MONTHLY;BYMONTHDAY=1,15", None)),
    ("ngày cuối cùng của tháng", ("FREQ=MONTHLY;BYMONTHDAY=-1", None)),
    ("thứ Sáu cuối cùng của tháng", ("FREQ=MONTHLY;BYDAY=-1FR", None)),
    ("first Monday of every month at 9:00", ("FREQ=MONTHLY;BYDAY=1MO", time(9, 0))),
    ("mỗi 2 tuần vào thứ Hai", ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", None)),
    ("every 2 weeks on Monday", ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", None)),
    ("every other week on Monday", ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", None)),
    ("ngày 10 tháng 3 hằng năm", ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10", None)),
    ("10/3 hằng năm", ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10", None)),
    ("March 10 every year", ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10", None)),
    ("every year on 10 March", ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10", None)),
]


@pytest.mark.parametrize(("phrase", "expected"), CASES)
def test_phrase_gives_rrule_and_time(phrase, expected):
    rhythm = parse_rhythm(phrase, date(2024, 9, 1))
    assert rule(rhythm.rrule) == rule(expected[0])
    assert rhythm.time == expected[1]


def test_language_is_detected():
    assert parse_rhythm("every Friday at 17:00", date(2024, 9, 1)).language == "en"
    assert parse_rhythm("hằng tuần vào thứ Sáu lúc 17:00", date(2024, 9, 1)).language == "vi"
    assert parse_rhythm("hang tuan vao thu sau", date(2024, 9, 1)).language == "vi"


def test_weekly_friday_occurrences(tmp_path):
    expected = ["2024-10-04 17:00", "2024-10-11 17:00", "2024-10-18 17:00", "2024-10-25 17:00", "2024-11-01 17:00"]
    assert expand(tmp_path, "hằng tuần vào thứ Sáu lúc 17:00", date(2024, 10, 1)) == expected
    assert expand(tmp_path, "every Friday at 5pm", date(2024, 10, 1)) == expected


@pytest.mark.parametrize("phrase", ["ngày 1 đến 10 tháng 10 hằng năm", "1–10 October every year"])
def test_campaign_occurrences_in_october_2024(tmp_path, phrase):
    days = expand(tmp_path, phrase, date(2024, 9, 15), 11)
    assert days == [f"2024-10-{d:02d}" for d in range(1, 11)] + ["2025-10-01"]


@pytest.mark.parametrize("phrase", ["ngày làm việc cuối cùng của tháng", "last working day of the month"])
def test_last_working_day_including_months_ending_on_a_weekend(tmp_path, phrase):
    # March 2024 ends on a Sunday, August and November 2024 on a Saturday.
    days = expand(tmp_path, phrase, date(2024, 3, 1), 12)
    assert days == ["2024-03-29", "2024-04-30", "2024-05-31", "2024-06-28", "2024-07-31", "2024-08-30",
                    "2024-09-30", "2024-10-31", "2024-11-29", "2024-12-31", "2025-01-31", "2025-02-28"]


def test_neighbours_occurrences(tmp_path):
    assert expand(tmp_path, "thứ Hai và thứ Năm lúc 8:00", date(2024, 10, 1), 4) == [
        "2024-10-03 08:00", "2024-10-07 08:00", "2024-10-10 08:00", "2024-10-14 08:00"]
    assert expand(tmp_path, "ngày 5 hằng tháng", date(2024, 10, 6), 3) == ["2024-11-05", "2024-12-05", "2025-01-05"]
    assert expand(tmp_path, "the 5th of every month", date(2024, 10, 6), 3) == ["2024-11-05", "2024-12-05",
                                                                                "2025-01-05"]
    assert expand(tmp_path, "mỗi 2 tuần vào thứ Hai", date(2024, 10, 1), 3) == ["2024-10-07", "2024-10-21",
                                                                                 "2024-11-04"]
    assert expand(tmp_path, "ngày 10 tháng 3 hằng năm", date(2024, 10, 1), 2) == ["2025-03-10", "2026-03-10"]
    assert expand(tmp_path, "hằng ngày lúc 7:30", date(2024, 10, 1), 2) == ["2024-10-01 07:30", "2024-10-02 07:30"]
    assert expand(tmp_path, "ngày cuối cùng của tháng", date(2024, 2, 1), 2) == ["2024-02-29", "2024-03-31"]


def test_what_the_phrase_leaves_open_is_written_into_the_rule():
    """'mỗi 2 tuần' alone: the weekday comes from the first day, and is shown in the rule."""
    rhythm = parse_rhythm("mỗi 2 tuần", date(2024, 10, 2))  # a Wednesday
    assert rule(rhythm.rrule) == rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=WE")
    assert rhythm.describe("vi") == "mỗi 2 tuần vào Thứ Tư, cả ngày"
    assert rhythm.describe("en") == "every 2 weeks on Wednesday, all day"


def test_until_single_date_and_time_range(tmp_path):
    rhythm = parse_rhythm("hằng tuần vào thứ Hai lúc 8:00 đến hết ngày 30/9/2023", date(2022, 10, 1))
    assert rhythm.first == date(2022, 10, 3)
    assert first_occurrences(rhythm, 100)[-1] == datetime(2023, 9, 25, 8, 0)
    once = parse_rhythm("ngày 15/10/2024 lúc 8:00", date(2024, 1, 1))
    assert once.rule is None and once.dtstart() == datetime(2024, 10, 15, 8, 0)
    timed = parse_rhythm("hằng tuần vào thứ Sáu từ 17:00 đến 17:30", date(2024, 1, 1))
    assert timed.time == time(17, 0) and timed.duration == timedelta(minutes=30)


def test_describe_in_both_languages():
    rhythm = parse_rhythm("hằng tuần vào thứ Sáu lúc 17:00", date(2024, 10, 1))
    assert rhythm.describe("vi") == "hằng tuần vào Thứ Sáu, lúc 17:00"
    assert rhythm.describe("en") == "every week on Friday, at 17:00"
    campaign = parse_rhythm("1–10 October every year", date(2024, 10, 1))
    assert campaign.describe("vi") == "hằng năm vào ngày 1–10 tháng 10, cả ngày"
    assert describe(icalendar.vRecur.from_ical(LAST_WORKING_DAY[0]), date(2024, 1, 31), "vi") == \
        "hằng tháng vào ngày làm việc cuối cùng, cả ngày"
    assert describe(icalendar.vRecur.from_ical("FREQ=HOURLY;BYMINUTE=5"), date(2024, 1, 1), "vi") == \
        "RRULE:FREQ=HOURLY;BYMINUTE=5"


# --- refusals -------------------------------------------------------------------------------

def refused(phrase: str) -> RhythmError:
    with pytest.raises(RhythmError) as caught:
        parse_rhythm(phrase, date(2024, 9, 1))
    return caught.value


def test_nonsense_is_refused_with_examples():
    error = refused("trời hôm nay đẹp quá")
    text = error.explain()
    assert "Không dùng được nhịp lặp «trời hôm nay đẹp quá»." in text
    assert "Không hiểu: «trời», «hôm», «nay», «đẹp», «quá»" in text
    assert "Ví dụ: «hằng tuần vào thứ Sáu lúc 17:00»" in text
    assert "Examples" not in text  # a Vietnamese phrase gets a Vietnamese answer


def test_half_understood_vietnamese_names_what_was_and_was_not_understood():
    text = refused("hằng tuần vào thứ Sáu lúc 17:00 và gọi điện cho xã").explain()
    assert "Đã hiểu: «hằng tuần», «thứ Sáu», «17:00» (= hằng tuần vào Thứ Sáu, lúc 17:00)" in text
    assert "Không hiểu: «gọi», «điện», «cho», «xã»" in text


def test_half_understood_english_answers_in_both_languages():
    error = refused("every Friday at 5pm and call the commune")
    assert error.language == "en"
    text = error.explain()
    vi, en = text.split("\n\n")
    assert "Không hiểu: «call», «commune»" in vi and "Ví dụ:" in vi
    assert "Understood: «Friday», «5pm» (= every week on Friday, at 17:00)" in en
    assert "Not understood: «call», «commune»" in en
    assert "Examples: «every Friday at 17:00»" in en


@pytest.mark.parametrize(("phrase", "unclear"), [
    ("ngày 10 tháng 3", "thêm 'hằng năm'"),
    ("ngày 5", "thiếu 'hằng tháng'"),
    ("lúc 17:00", "thiếu độ lặp"),
    ("hằng tuần hằng tháng", "hai nhịp khác nhau (hằng tháng và hằng tuần)"),
    ("ngày 31 tháng 2 hằng năm", "tháng đó không có ngày 31"),
    ("hằng tuần vào thứ Sáu lúc 25:00", "«25:00» không phải là ngày hoặc giờ có thật"),
    ("hằng tuần lúc 8:00 lúc 9:00", "hai giờ khác nhau"),
    ("ngày 5 hằng tuần", "nhịp là hằng tuần"),
    ("hằng tuần vào thứ Hai đến hết ngày 30/9/2023", "ngày kết thúc 2023-09-30 đứng trước ngày đầu tiên"),
    ("", "chưa nhập nhịp lặp"),
    ("thứ Sáu cuối cùng", "thêm 'của tháng'"),
    ("last working day", "thêm 'của tháng'"),
    ("hằng ngày vào thứ Tư", "hằng ngày, hay chỉ một thứ trong tuần"),
])
def test_contradictions_and_gaps_are_refused(phrase, unclear):
    text = refused(phrase).explain()
    assert "Chưa rõ: " in text and unclear in text, text


def test_every_two_hours_is_not_read_as_two_oclock():
    for phrase in ("mỗi 2 giờ hằng ngày", "every 2 hours daily"):
        text = refused(phrase).explain()
        assert "Chưa rõ: chưa hỗ trợ nhắc nhiều lần trong ngày" in text, text


# --- reminder offsets -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "timed", "all_day"), [
    ("1 ngày trước", (-timedelta(days=1), "START"), (-timedelta(hours=17), "START")),
    ("trước 1 ngày", (-timedelta(days=1), "START"), (-timedelta(hours=17), "START")),
    ("2 giờ trước", (-timedelta(hours=2), "START"), None),
    ("2 tiếng trước", (-timedelta(hours=2), "START"), None),
    ("30 phút trước", (-timedelta(minutes=30), "START"), None),
    ("lúc bắt đầu", (timedelta(0), "START"), (timedelta(hours=7), "START")),
    ("khi kết thúc", (timedelta(0), "END"), (-timedelta(hours=7), "END")),
    ("1 ngày trước lúc 17:00", (-timedelta(days=1), "START"), (-timedelta(hours=7), "START")),
    ("1 day before", (-timedelta(days=1), "START"), (-timedelta(hours=17), "START")),
    ("2 hours before", (-timedelta(hours=2), "START"), None),
    ("30 minutes before", (-timedelta(minutes=30), "START"), None),
    ("at the start", (timedelta(0), "START"), (timedelta(hours=7), "START")),
    ("1 hour after the start", (timedelta(hours=1), "START"), None),
])
def test_offsets(text, timed, all_day):
    offset = parse_offset(text)
    assert offset.trigger(time(17, 0)) == timed
    if all_day is None:
        with pytest.raises(RhythmError) as caught:
            offset.trigger(None)
        assert "nhiệm vụ cả ngày không có giờ bắt đầu" in caught.value.explain()
    else:
        assert offset.trigger(None) == all_day


def test_offset_nonsense_is_refused():
    with pytest.raises(RhythmError) as caught:
        parse_offset("sớm sớm một chút")
    text = caught.value.explain()
    assert "Không dùng được thời điểm nhắc «sớm sớm một chút»" in text and "«1 ngày trước»" in text
    with pytest.raises(RhythmError) as caught:
        parse_offset("2 hours before lunch")
    assert "Examples: «1 day before»" in caught.value.explain()


# --- misreadings: a phrase taken with another meaning is worse than a refusal -----------------

@pytest.mark.parametrize(("phrase", "expected"), [
    ("hằng tuần vào thứ 6 lúc 1 giờ trưa", time(13, 0)),
    ("hang tuan vao thu 6 luc 1 gio trua", time(13, 0)),
    ("hằng tuần vào thứ 6 lúc 12 giờ trưa", time(12, 0)),
    ("hằng tuần vào thứ 6 lúc 11 giờ trưa", time(11, 0)),
    ("hằng tuần vào thứ 6 lúc 11 giờ đêm", time(23, 0)),
    ("hằng tuần vào thứ 6 lúc 10 giờ đêm", time(22, 0)),
    ("hằng tuần vào thứ 6 lúc 2 giờ đêm", time(2, 0)),
    ("hằng tuần vào thứ 6 lúc 12 giờ đêm", time(0, 0)),
    ("hằng tuần vào thứ 6 lúc 7 giờ tối", time(19, 0)),
    ("hằng tuần vào thứ 6 lúc 5 giờ chiều", time(17, 0)),
    ("hằng tuần vào thứ 6 lúc 17 giờ chiều", time(17, 0)),
    ("hằng tuần vào thứ 6 lúc 6 giờ sáng", time(6, 0)),
    ("T6 hằng tuần 17g30", time(17, 30)),
    ("every Friday at 12am", time(0, 0)),
    ("every Friday at 12pm", time(12, 0)),
])
def test_part_of_the_day_sets_the_hour(phrase, expected):
    assert parse_rhythm(phrase, date(2024, 9, 1)).time == expected


@pytest.mark.parametrize("phrase", ["hằng tuần vào thứ 6 lúc 17 giờ sáng", "hằng tuần vào thứ 6 lúc 3 giờ tối",
                                    "hằng tuần vào thứ 6 lúc 7 giờ đêm", "every Friday at 17pm"])
def test_a_part_of_the_day_that_contradicts_the_hour_is_refused(phrase):
    assert "không phải là ngày hoặc giờ có thật" in refused(phrase).explain()


def test_a_time_range_shares_the_part_of_the_day_said_at_its_end():
    evening = parse_rhythm("hằng tuần vào thứ 6 từ 7 giờ đến 9 giờ tối", date(2024, 9, 1))
    assert (evening.time, evening.duration) == (time(19, 0), timedelta(hours=2))
    day = parse_rhythm("hằng tuần vào thứ 6 từ 8h đến 5h chiều", date(2024, 9, 1))
    assert (day.time, day.duration) == (time(8, 0), timedelta(hours=9))


@pytest.mark.parametrize("phrase", ["hằng tháng vào thứ Hai", "hang thang vao thu 2", "every month on Monday",
                                    "hằng tháng vào thứ hai thứ hai", "ngày 13 hằng tháng vào thứ Sáu"])
def test_a_weekday_in_a_monthly_rhythm_needs_which_one(phrase):
    # FREQ=MONTHLY;BYDAY=MO would remind every Monday, four or five times a month
    assert "thứ Hai đầu tiên của tháng" in refused(phrase).explain()


@pytest.mark.parametrize("text", ["2 ngày trước khi kết thúc lúc 9:00", "2 days before the end at 9am"])
def test_a_clock_time_before_the_end_is_refused_not_counted_from_the_start(text):
    with pytest.raises(RhythmError):
        parse_offset(text)


@pytest.mark.parametrize("phrase", ["hằng tháng vào ngày 31", "ngày 30 hằng tháng", "on the 31st of every month"])
def test_a_monthly_day_some_months_lack_is_refused_not_silently_skipped(phrase):
    # RFC 5545 skips the months without that day: February would get no reminder at all
    assert "ngày cuối cùng của tháng" in refused(phrase).explain()
    assert parse_rhythm("ngày 28 hằng tháng", date(2024, 9, 1)).rrule == "FREQ=MONTHLY;BYMONTHDAY=28"


@pytest.mark.parametrize(("phrase", "unclear"), [
    ("1/9 và 15/10 hằng năm", "ngày ở nhiều tháng"),  # not also 15/9 and 1/10
    ("ngày 1 tháng 9 và ngày 15 tháng 10 hằng năm", "ngày ở nhiều tháng"),
    ("September 1 and October 15 every year", "ngày ở nhiều tháng"),
    ("ngày 1/9/2025 và 15/10/2025", "ngày ở nhiều tháng"),
    ("ngày 2/9/2025 và 3/9/2026", "hai năm khác nhau"),  # not 2/9/2026 and 3/9/2026
])
def test_dates_are_not_crossed_into_dates_never_said(phrase, unclear):
    assert unclear in refused(phrase).explain()
    two_days = parse_rhythm("ngày 2/9/2025 và 3/9/2025", date(2024, 9, 1))
    assert first_occurrences(two_days, 5) == [date(2025, 9, 2), date(2025, 9, 3)]
