"""Plain-words rhythms ("hằng tuần vào thứ Sáu lúc 17:00") turned into an RRULE, and back.

Admins say how often a duty comes in Vietnamese or English; this module finds every
piece it knows (how often, weekdays, days of the month, months, time of day, until,
how many times), and refuses the phrase when any word is left over or the pieces do
not make one rule: a reminder schedule is never guessed. Accents are optional
("hang tuan" = "hằng tuần"); case does not matter.

Reminder offsets ("1 ngày trước", "2 hours before", "lúc bắt đầu") are parsed here too.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

import icalendar
from babel.dates import format_date, get_day_names, get_month_names
from babel.lists import format_list
from dateutil.rrule import rrulestr  # type: ignore[import-untyped]  # no types-python-dateutil in the venv

from reminders.definitions.ics import recur_text
from reminders.errors import RemindersError
from reminders.i18n import N_, format_day, t
from reminders.text import fold_with_index

# `time` is also a field name of _Facts and Rhythm: inside those classes it names the field.
_Clock = time

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WORKING_DAYS = WEEKDAYS[:5]
FREQS = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}
# A rule's parts in the order they are written, so that the same phrase always gives
# the same RRULE text.
PART_ORDER = ("FREQ", "INTERVAL", "UNTIL", "COUNT", "BYMONTH", "BYMONTHDAY", "BYDAY", "BYSETPOS")
EXAMPLES_VI = ("hằng tuần vào thứ Sáu lúc 17:00", "ngày 1 đến 10 tháng 10 hằng năm",
               "ngày làm việc cuối cùng của tháng", "ngày 5 hằng tháng lúc 8:00",
               "mỗi 2 tuần vào thứ Hai và thứ Năm", "hằng ngày lúc 7:30")
EXAMPLES_EN = ("every Friday at 17:00", "1-10 October every year", "last working day of the month",
               "the 5th of every month at 8am", "every 2 weeks on Monday and Thursday", "every day at 7:30")
OFFSET_EXAMPLES_VI = ("1 ngày trước", "2 giờ trước", "30 phút trước", "lúc bắt đầu", "lúc kết thúc",
                      "1 ngày trước lúc 17:00")
OFFSET_EXAMPLES_EN = ("1 day before", "2 hours before", "30 minutes before", "at the start", "at the end",
                      "1 day before at 17:00")


class RhythmError(RemindersError):
    """A phrase that is not understood, or only in part: what was understood, what not, examples."""

    def __init__(self, text: str, language: str, *, understood: list[str] | None = None,
                 leftover: list[str] | None = None, problem_vi: str = "", problem_en: str = "",
                 meaning: dict[str, str] | None = None, offset: bool = False):
        self.text = text
        self.language = language
        self.understood = understood or []
        self.leftover = leftover or []
        self.problem = {"vi": problem_vi, "en": problem_en}
        self.meaning = meaning or {}
        self.offset = offset
        super().__init__(self.explain())

    def explain(self, language: str | None = None) -> str:
        """The message in Vietnamese, followed by English when the phrase was English."""
        languages = [language] if language else (["vi", "en"] if self.language == "en" else ["vi"])
        return "\n\n".join(self._explain(lang) for lang in languages)

    def _explain(self, lang: str) -> str:
        quote = _quote
        lines = [t(lang, "Cannot use the reminder time {text}.", text=quote(self.text)) if self.offset
                 else t(lang, "Cannot use the rhythm {text}.", text=quote(self.text))]
        if self.understood:
            line = t(lang, "Understood: {words}", words=", ".join(quote(w) for w in self.understood))
            if self.meaning.get(lang):
                line += f" (= {self.meaning[lang]})"
            lines.append(line)
        else:
            lines.append(t(lang, "Understood: nothing"))
        if self.leftover:
            lines.append(t(lang, "Not understood: {words}", words=", ".join(quote(w) for w in self.leftover)))
        if self.problem.get(lang):
            lines.append(t(lang, "Unclear: {problem}", problem=self.problem[lang]))
        if self.offset:
            examples = OFFSET_EXAMPLES_EN if lang == "en" else OFFSET_EXAMPLES_VI
        else:
            examples = EXAMPLES_EN if lang == "en" else EXAMPLES_VI
        lines.append(t(lang, "Examples: {examples}", examples=", ".join(quote(e) for e in examples)))
        return "\n".join(lines)


def _quote(text: str) -> str:
    return f"«{text}»"


# --- vocabulary ----------------------------------------------------------------------------

_WEEKDAY_WORDS = {
    # Vietnamese ("thứ Hai" ... "Chủ nhật", "thứ 2", "T2", "CN"), folded and without spaces
    "thuhai": "MO", "thu2": "MO", "t2": "MO", "thuba": "TU", "thu3": "TU", "t3": "TU",
    "thutu": "WE", "thu4": "WE", "t4": "WE", "thunam": "TH", "thu5": "TH", "t5": "TH",
    "thusau": "FR", "thu6": "FR", "t6": "FR", "thubay": "SA", "thu7": "SA", "t7": "SA",
    "chunhat": "SU", "cn": "SU",
    # English
    "monday": "MO", "mon": "MO", "tuesday": "TU", "tues": "TU", "tue": "TU", "wednesday": "WE",
    "wed": "WE", "thursday": "TH", "thurs": "TH", "thur": "TH", "friday": "FR", "fri": "FR",
    "saturday": "SA", "sat": "SA", "sunday": "SU", "sun": "SU",
}
_WD_VI = r"(?:thu\s*(?:hai|ba|tu|nam|sau|bay|[2-7])|chu\s*nhat|cn|t[2-7])"
_WD_EN = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues|tue|wed|thurs|thur|fri|sat|sun)s?"
WD = rf"(?:{_WD_VI}|{_WD_EN})"

_MONTHS_EN = {name.lower(): number for number, name in enumerate(_calendar.month_name) if name}
_MONTHS_EN.update({name.lower(): number for number, name in enumerate(_calendar.month_abbr) if name})
_MONTHS_EN["sept"] = 9
MON_EN = "(?:" + "|".join(sorted(_MONTHS_EN, key=len, reverse=True)) + ")"
_MONTHS_VI = {"gieng": 1, "mot": 1, "hai": 2, "ba": 3, "tu": 4, "nam": 5, "sau": 6, "bay": 7, "tam": 8,
              "chin": 9, "muoi": 10, "muoi mot": 11, "muoi hai": 12, "chap": 12}
MON_VI = r"(?:\d{1,2}|muoi\s+mot|muoi\s+hai|muoi|gieng|chap|mot|hai|ba|tu|nam|sau|bay|tam|chin)"

_UNITS = {"ngay": "day", "tuan": "week", "thang": "month", "nam": "year",
          "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
          "year": "year", "years": "year"}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
             "fifth": 5, "5th": 5, "last": -1, "final": -1, "dau tien": 1, "dau": 1, "cuoi cung": -1, "cuoi": -1}
_ORD_EN = r"(?:first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|final)"
_ORD_VI = r"(?:dau\s+tien|dau|cuoi\s+cung|cuoi)"

NUM = r"\d{1,2}(?:st|nd|rd|th)?(?![\d:])"
_RANGE_SEP = r"\s*(?:-|den|toi|to|through|thru|until)\s*(?:ngay\s+)?"
DAYLIST = rf"{NUM}(?:(?:{_RANGE_SEP}|\s*(?:va|and)\s*(?:ngay\s+)?|\s+){NUM})*"
_CLOCK = (r"\d{1,2}\s*(?::\s*\d{2}|h\s*\d{2}|h\b|g\s*\d{2}|g\b|\s+gio(?:\s+\d{1,2}(?:\s+phut)?)?)"
          r"(?:\s*(?:am|pm|a m|p m|sang|trua|chieu|toi|dem))?"
          r"|\d{1,2}\s*(?:am|pm|a m|p m)\b")
TIME = rf"(?:{_CLOCK})"
DATEFULL = (rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}"
            rf"|\d{{1,2}}\s+thang\s+\d{{1,2}}\s+nam\s+\d{{4}}"
            rf"|{MON_EN}\s+\d{{1,2}}(?:st|nd|rd|th)?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{MON_EN}\s+\d{{4}})")

FILLERS = {"vao", "luc", "va", "tu", "cac", "nhung", "ngay", "moi", "cua", "trong", "tai",
           "on", "at", "in", "the", "of", "and", "every", "each", "from", "all"}


def weekday_code(text: str) -> str:
    key = re.sub(r"\s+", "", text)
    return _WEEKDAY_WORDS.get(key) or _WEEKDAY_WORDS[key.rstrip("s")]


# The part of the day said after a Vietnamese clock time: (hours read as they are, hours
# that get 12 added). "1 giờ trưa" is 13:00, "11 giờ đêm" 23:00, "2 giờ đêm" 02:00, "12 giờ
# đêm" midnight; an hour outside both ("17 giờ sáng", "3 giờ tối") contradicts itself.
_DAY_PARTS = {
    "sang": (range(0, 12), range(0)),
    "trua": (range(10, 16), range(1, 4)),
    "chieu": (range(12, 21), range(1, 9)),
    "toi": (range(17, 24), range(5, 12)),
    "dem": (range(0, 5), range(9, 12)),
}


def parse_time(text: str) -> time:
    """'17:00', '17h', '5pm', '5 giờ chiều', '8 gio 30' -> a time; ValueError if impossible
    or self-contradictory ('17 giờ sáng')."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    hour, minute = numbers[0], numbers[1] if len(numbers) > 1 else 0
    half = re.search(r"(am|pm|a m|p m|sang|trua|chieu|toi|dem)\s*$", text)
    if half:
        word = half.group(1).replace(" ", "")
        if word in ("am", "pm"):
            if not 1 <= hour <= 12:
                raise ValueError(text)
            if word == "pm" and hour < 12:
                hour += 12
            elif word == "am" and hour == 12:
                hour = 0
        elif word == "dem" and hour in (12, 24):
            hour = 0
        else:
            as_said, afternoon = _DAY_PARTS[word]
            if hour in afternoon:
                hour += 12
            elif hour not in as_said:
                raise ValueError(text)
    if hour > 23 or minute > 59:
        raise ValueError(text)
    return time(hour, minute)


def _day_numbers(text: str) -> list[int]:
    text = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text)
    days: list[int] = []
    for match in re.finditer(rf"(\d+)(?:{_RANGE_SEP}(\d+))?", text):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low:
            raise ValueError(f"{low}-{high}")
        days.extend(range(low, high + 1))
    return days


def _month_vi(text: str) -> int:
    word = " ".join(text.split())
    return int(word) if word.isdigit() else _MONTHS_VI[word]


def _full_date(text: str) -> date:
    text = " ".join(text.split())
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2}) thang (\d{1,2}) nam (\d{4})", text):
        return date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(rf"({MON_EN}) (\d{{1,2}})(?:st|nd|rd|th)? (\d{{4}})", text):
        return date(int(m[3]), _MONTHS_EN[m[1]], int(m[2]))
    if m := re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?({MON_EN}) (\d{{4}})", text):
        return date(int(m[3]), _MONTHS_EN[m[2]], int(m[1]))
    raise ValueError(text)


# --- what a phrase says ----------------------------------------------------------------

class _Unclear(Exception):
    def __init__(self, vi: str, en: str):
        super().__init__(en)
        self.vi, self.en = vi, en


def _unclear(message: str, **values: object) -> _Unclear:
    """Both languages at once: the error shows English too when the phrase was English."""
    return _Unclear(t("vi", message, **values), t("en", message, **values))


@dataclass
class _Facts:
    freqs: dict[str, int] = field(default_factory=dict)  # FREQ -> INTERVAL, as said
    implied: str | None = None  # "of the month" says monthly without saying "every"
    weekdays: list[str] = field(default_factory=list)  # "FR", or "-1FR" with an ordinal
    working_days: bool = False
    setpos: int | None = None
    monthdays: list[int] = field(default_factory=list)
    months: list[int] = field(default_factory=list)
    year: int | None = None
    time: time | None = None
    duration: timedelta | None = None
    until: date | None = None
    count: int | None = None
    start: date | None = None
    part: str | None = None  # "sáng thứ Hai ... lúc 8 giờ": a part of the day said apart from the time

    def freq(self, unit: str, interval: int = 1) -> None:
        name = FREQS[unit]
        if self.freqs.get(name, interval) != interval:
            raise _unclear(N_("two different intervals for the same rhythm"))
        self.freqs[name] = interval

    def at(self, value: _Clock) -> None:
        if self.time is not None and self.time != value:
            raise _unclear(N_("two different times of day; a duty has one start time"))
        self.time = value

    def in_year(self, year: int) -> None:
        if self.year is not None and self.year != year:
            raise _unclear(N_("two different years; for dates in several years write one duty per date"))
        self.year = year

    def weekday(self, code: str) -> None:
        if code not in self.weekdays:
            self.weekdays.append(code)


Handler = Callable[[re.Match[str], _Facts], None]


def _interval(m: re.Match[str], f: _Facts) -> None:
    count = m.group("n")
    number = 2 if count in ("other", "second") else int(count)
    if number < 1:
        raise _unclear(N_("an interval must be at least 1"))
    f.freq(_UNITS[m.group("u")], number)


def _every(m: re.Match[str], f: _Facts) -> None:
    f.freq(_UNITS.get(m.group("u"), m.group("u")))


def _word_freq(m: re.Match[str], f: _Facts) -> None:
    word = m.group(0)
    f.freq({"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year",
            "biweekly": "week", "fortnightly": "week"}.get(word, "week"),
           2 if word in ("biweekly", "fortnightly") or "fortnight" in word else 1)


def _implied(unit: str) -> Handler:
    def handler(m: re.Match[str], f: _Facts) -> None:
        f.implied = FREQS[unit]
    return handler


def _working_ordinal(m: re.Match[str], f: _Facts) -> None:
    f.working_days = True
    f.setpos = _ORDINALS[" ".join(m.group("o").split())]


def _working(m: re.Match[str], f: _Facts) -> None:
    f.working_days = True


def _ordinal_weekday(m: re.Match[str], f: _Facts) -> None:
    f.weekday(f"{_ORDINALS[' '.join(m.group('o').split())]}{weekday_code(m.group('d'))}")


def _last_day(m: re.Match[str], f: _Facts) -> None:
    f.monthdays.append(-1)


def _weekday_range(m: re.Match[str], f: _Facts) -> None:
    first, last = WEEKDAYS.index(weekday_code(m.group("a"))), WEEKDAYS.index(weekday_code(m.group("b")))
    for step in range((last - first) % 7 + 1):
        f.weekday(WEEKDAYS[(first + step) % 7])


def _weekday(m: re.Match[str], f: _Facts) -> None:
    f.weekday(weekday_code(m.group(0)))


_PART_OF_DAY = re.compile(r"(?:am|pm|a m|p m|sang|trua|chieu|toi|dem)\s*$")


def _time_range(m: re.Match[str], f: _Facts) -> None:
    begin, end = parse_time(m.group("a")), parse_time(m.group("b"))
    part = _PART_OF_DAY.search(m.group("b"))
    if part and not _PART_OF_DAY.search(m.group("a")):
        # "từ 7 giờ đến 9 giờ tối": the evening covers both ends (19:00-21:00, not 07:00-21:00)
        try:
            shared = parse_time(f"{m.group('a')} {part.group(0)}")
        except ValueError:
            shared = begin
        begin = shared if shared < end else begin
    f.at(begin)
    span = datetime.combine(date.min, end) - datetime.combine(date.min, begin)
    if span <= timedelta(0):
        raise _unclear(N_("the end time must come after the start time"))
    f.duration = span


def _time(m: re.Match[str], f: _Facts) -> None:
    f.at(parse_time(m.group(0)))


def _part_of_day(m: re.Match[str], f: _Facts) -> None:
    word = m.group("p")
    if f.part is not None and f.part != word:
        raise _unclear(N_("two different parts of the day"))
    f.part = word


def _apply_part(f: _Facts) -> None:
    """"sáng thứ Hai lúc 8 giờ" is 08:00, "chiều thứ Sáu lúc 5 giờ" 17:00; a part of the day
    with no clock time, or one it contradicts ("sáng ... lúc 17:00"), is refused."""
    if f.part is None:
        return
    if f.time is None:
        raise _unclear(N_("a part of the day without a clock time; say the time, e.g. 'lúc 8 giờ'"))
    as_said, afternoon = _DAY_PARTS[f.part]
    hour = f.time.hour
    if hour in afternoon:
        f.time = f.time.replace(hour=hour + 12)
    elif hour not in as_said:
        raise _unclear(N_("{words} is not a possible date or time"), words=_quote(f"{f.part} {f.time:%H:%M}"))


def _hourly(m: re.Match[str], f: _Facts) -> None:
    raise _unclear(N_("several times a day is not supported in words; write one duty per time of day"))


def _duration(m: re.Match[str], f: _Facts) -> None:
    unit = m.group("u")
    amount = int(m.group("n"))
    f.duration = timedelta(minutes=amount) if unit.startswith(("phut", "min")) else timedelta(hours=amount)


def _until(m: re.Match[str], f: _Facts) -> None:
    f.until = _full_date(m.group("date"))


def _start(m: re.Match[str], f: _Facts) -> None:
    f.start = _full_date(m.group("date"))


def _count(m: re.Match[str], f: _Facts) -> None:
    f.count = int(m.group("n"))
    if f.count < 1:
        raise _unclear(N_("an interval must be at least 1"))


def _slash_date(m: re.Match[str], f: _Facts) -> None:
    f.monthdays.extend(_day_numbers(m.group("d")))
    f.months.append(int(m.group("m")))
    if m.group("y"):
        f.in_year(int(m.group("y")))


def _iso_date(m: re.Match[str], f: _Facts) -> None:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    f.in_year(year)
    f.months.append(month)
    f.monthdays.append(day)


def _days(m: re.Match[str], f: _Facts) -> None:
    f.monthdays.extend(_day_numbers(m.group("list")))


def _days_month_en(m: re.Match[str], f: _Facts) -> None:
    f.monthdays.extend(_day_numbers(m.group("list")))
    f.months.append(_MONTHS_EN[m.group("mon")])


def _month_vi_handler(m: re.Match[str], f: _Facts) -> None:
    f.months.append(_month_vi(m.group("m")))


def _month_en(m: re.Match[str], f: _Facts) -> None:
    f.months.append(_MONTHS_EN[m.group("mon")])


def _year(m: re.Match[str], f: _Facts) -> None:
    f.in_year(int(m.group("y")))


# (pattern, handler, language) in the order they are tried; a piece, once recognised, is
# taken out of the text so that later, looser patterns cannot read it again.
# Compiled on first use, not at import: every CLI process imports this module, few parse a phrase.
_RULE_SOURCES: list[tuple[str, Handler, str | None]] = [
    (rf"(?:cho\s+)?den\s+(?:het\s+)?(?:ngay\s+)?(?P<date>{DATEFULL})", _until, "vi"),
    (rf"(?:until|till|through|thru|ending(?:\s+on)?)\s+(?:the\s+)?(?P<date>{DATEFULL})", _until, "en"),
    (rf"(?:bat\s+dau\s+(?:tu\s+)?|ke\s+tu\s+|tu\s+)(?:ngay\s+)?(?P<date>{DATEFULL})", _start, "vi"),
    (rf"(?:starting|beginning|from)\s+(?:on\s+|from\s+)?(?:the\s+)?(?P<date>{DATEFULL})", _start, "en"),
    (r"(?:trong|keo\s+dai)\s+(?P<n>\d+)\s*(?P<u>gio|tieng|phut)", _duration, "vi"),
    (r"for\s+(?P<n>\d+)\s*(?P<u>hours?|hrs?|minutes?|mins?)", _duration, "en"),
    (r"(?:moi|cu|every)\s+(?:\d+\s+)?(?:gio|tieng|phut|hours?|minutes?|mins?)", _hourly, None),
    (rf"(?:tu\s+)?(?P<a>{TIME})\s*(?:-|den|toi)\s*(?P<b>{TIME})", _time_range, "vi"),
    (rf"(?:from\s+)?(?P<a>{TIME})\s*(?:to|until|till)\s*(?P<b>{TIME})", _time_range, "en"),
    (TIME, _time, None),
    (r"(?:moi|cu)\s+(?P<n>\d+)\s+(?P<u>ngay|tuan|thang|nam)(?:\s+(?:mot|1)\s+lan)?", _interval, "vi"),
    (r"(?P<n>\d+)\s+(?P<u>ngay|tuan|thang|nam)\s+(?:mot|1)\s+lan", _interval, "vi"),
    (r"every\s+(?P<n>\d+|other|second)\s+(?P<u>days?|weeks?|months?|years?)", _interval, "en"),
    (r"(?P<n>\d+)\s+lan", _count, "vi"),
    (r"(?:for\s+)?(?P<n>\d+)\s+(?:times|occurrences)", _count, "en"),
    (rf"ngay\s+lam\s+viec\s+(?P<o>{_ORD_VI})", _working_ordinal, "vi"),
    (rf"(?:the\s+)?(?P<o>{_ORD_EN})\s+(?:working\s+day|work\s*day|business\s+day|weekday)", _working_ordinal, "en"),
    (r"(?:(?:cac|moi|nhung)\s+)?ngay\s+lam\s+viec(?:\s+trong\s+tuan)?", _working, "vi"),
    (r"(?:(?:every|each|all|on)\s+)?(?:working\s+days?|work\s*days?|business\s+days?|weekdays)", _working, "en"),
    (r"(?:every|each)\s+weekday", _working, "en"),
    (r"(?:hang|moi)\s+(?P<u>ngay|tuan|thang|nam)", _every, "vi"),
    (r"(?:every|each)\s+(?P<u>day|week|month|year)", _every, "en"),
    (r"once\s+(?:a|every|per)\s+(?P<u>day|week|month|year)", _every, "en"),
    (r"daily|weekly|monthly|yearly|annually|biweekly|fortnightly|every\s+fortnight", _word_freq, "en"),
    (r"cach\s+tuan", lambda m, f: f.freq("week", 2), "vi"),
    (r"cach\s+ngay", lambda m, f: f.freq("day", 2), "vi"),
    (r"(?:cua|trong)\s+thang(?!\s+(?:\d+|muoi|gieng|chap|mot|hai|ba|tu|nam|sau|bay|tam|chin)\b)",
     _implied("month"), "vi"),
    (r"(?:of|in)\s+(?:the|a)\s+month", _implied("month"), "en"),
    (rf"(?P<d>{WD})\s+(?:tuan\s+)?(?P<o>{_ORD_VI})", _ordinal_weekday, "vi"),
    (rf"(?:the\s+)?(?P<o>{_ORD_EN})\s+(?P<d>{WD})", _ordinal_weekday, "en"),
    (r"ngay\s+cuoi(?:\s+cung)?", _last_day, "vi"),
    (r"(?:the\s+)?last\s+day", _last_day, "en"),
    (rf"(?:tu\s+)?(?P<a>{_WD_VI})\s*(?:-|den|toi)\s*(?P<b>{_WD_VI})", _weekday_range, "vi"),
    (rf"(?:from\s+)?(?P<a>{_WD_EN})\s*(?:-|to|through|thru|until)\s*(?P<b>{_WD_EN})", _weekday_range, "en"),
    (_WD_VI, _weekday, "vi"),
    (_WD_EN, _weekday, "en"),
    (r"(\d{4})-(\d{1,2})-(\d{1,2})", _iso_date, None),
    (r"(?:ngay\s+)?(?P<d>\d{1,2}(?:\s*(?:-|den|toi)\s*\d{1,2})?)/(?P<m>\d{1,2})(?:/(?P<y>\d{4}))?",
     _slash_date, None),
    (rf"(?:(?:tu\s+)?ngay\s+(?:mung\s+|mong\s+)?|mung\s+|mong\s+)(?P<list>{DAYLIST})", _days, "vi"),
    (rf"thang\s+(?P<m>{MON_VI})", _month_vi_handler, "vi"),
    (r"nam\s+(?P<y>\d{4})", _year, "vi"),
    (rf"(?:from\s+)?(?:the\s+)?(?P<list>{DAYLIST})\s+(?:of\s+)?(?P<mon>{MON_EN})", _days_month_en, "en"),
    (rf"(?P<mon>{MON_EN})\s+(?:the\s+)?(?P<list>{DAYLIST})", _days_month_en, "en"),
    (rf"(?:on\s+)?(?:the\s+)?days?\s+(?P<list>{DAYLIST})", _days, "en"),
    (rf"(?:on\s+)?the\s+(?P<list>{DAYLIST})", _days, "en"),
    (rf"(?:in\s+)?(?P<mon>{MON_EN})", _month_en, "en"),
    (r"(?:in\s+)?(?P<y>(?:19|20)\d{2})", _year, "en"),
    (r"(?:(?:vao\s+)?buoi\s+)?(?P<p>sang|trua|chieu|toi)", _part_of_day, "vi"),
]


@cache
def _rules() -> list[tuple[re.Pattern[str], Handler, str | None]]:
    return [(re.compile(rf"\b(?:{p})(?![\w:/])"), h, lang) for p, h, lang in _RULE_SOURCES]


def _recognise(text: str) -> tuple[_Facts, list[str], list[str], str, list[_Unclear]]:
    """Facts, understood pieces, leftover words, language and problems of a phrase."""
    folded, index = fold_with_index(text)
    facts = _Facts()
    spans: list[tuple[int, int]] = []
    problems: list[_Unclear] = []
    votes = {"vi": 0, "en": 0}
    for pattern, handler, language in _rules():
        for match in list(pattern.finditer(folded)):
            if "#" in match.group(0):
                continue
            try:
                handler(match, facts)
            except _Unclear as exc:
                problems.append(exc)
            except (ValueError, KeyError):
                problems.append(_unclear(N_("{words} is not a possible date or time"),
                                         words=_quote(_original(text, index, match.span()))))
            spans.append(match.span())
            if language:
                votes[language] += 1
        for start, end in spans:
            folded = folded[:start] + "#" * (end - start) + folded[end:]
    understood = [_original(text, index, span) for span in sorted(spans)]
    leftover = [_original(text, index, m.span()) for m in re.finditer(r"[^\s#]+", folded)
                if m.group(0).strip(":/-") and m.group(0) not in FILLERS]
    if votes["en"] > votes["vi"] or (not votes["vi"] and text.isascii() and not votes["en"]):
        language = "en"
    else:
        language = "vi"
    return facts, understood, leftover, language, problems


def _original(text: str, index: list[int], span: tuple[int, int]) -> str:
    start, end = span
    return text[index[start]:index[end - 1] + 1].strip()


# --- the rule ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rhythm:
    """A parsed rhythm: the RRULE (None for a single date), the first day, the time of day."""

    text: str
    language: str
    rule: icalendar.vRecur | None
    first: date
    time: time | None = None
    duration: timedelta | None = None

    @property
    def all_day(self) -> bool:
        return self.time is None

    @property
    def rrule(self) -> str:
        return recur_text(self.rule) if self.rule is not None else ""

    def dtstart(self) -> date | datetime:
        """DTSTART: the first day, at the time of day (naive local) unless all-day."""
        return self.first if self.time is None else datetime.combine(self.first, self.time)

    def describe(self, language: str) -> str:
        return describe(self.rule, self.dtstart(), language)


def parse_rhythm(text: str, start: date | None = None, *, today: date | None = None) -> Rhythm:
    """The rhythm a phrase says, its first occurrence on or after `start` (default today).

    Raises RhythmError with what was understood, the leftover words and examples.
    """
    text = " ".join(text.split())
    facts, understood, leftover, language, problems = _recognise(text)

    def refuse(problem: _Unclear | None = None, meaning: dict[str, str] | None = None) -> RhythmError:
        return RhythmError(text, language, understood=understood, leftover=leftover,
                           problem_vi=problem.vi if problem else "", problem_en=problem.en if problem else "",
                           meaning=meaning)

    if not text:
        raise refuse(_unclear(N_("the rhythm is empty")))
    begin = facts.start or start or today or date.today()
    try:
        if problems:
            raise problems[0]
        _apply_part(facts)
        rule, first = _resolve(facts, begin)
    except _Unclear as exc:
        raise refuse(exc) from None
    rhythm = Rhythm(text, language, rule, first, facts.time, facts.duration)
    if leftover:
        raise refuse(meaning={lang: rhythm.describe(lang) for lang in ("vi", "en")})
    return rhythm


def _resolve(f: _Facts, begin: date) -> tuple[icalendar.vRecur | None, date]:
    """One RRULE from the facts, or _Unclear saying what is missing or contradictory."""
    freqs = dict(f.freqs)
    if f.until and f.count:
        raise _unclear(N_("both an end date and a number of times; give one"))
    for month in f.months:
        if not 1 <= month <= 12:
            raise _unclear(N_("there is no month {month}"), month=month)
    for day in f.monthdays:
        if day != -1 and not 1 <= day <= 31:
            raise _unclear(N_("there is no day {day} in a month"), day=day)
    if len(set(f.months)) > 1 and f.monthdays:
        # "1/9 và 15/10" as BYMONTH=9,10;BYMONTHDAY=1,15 would also bring 15/9 and 1/10
        raise _unclear(N_("days in several months: every day named would come in every month named; "
                          "give one month, or write one duty per date"))
    if f.months and f.monthdays:
        longest = max(_calendar.monthrange(2024, month)[1] for month in f.months)
        if max(f.monthdays) > longest:
            raise _unclear(N_("day {day} does not exist in that month"), day=max(f.monthdays))
    if f.working_days:
        if any(code not in WORKING_DAYS for code in f.weekdays) or (f.weekdays and f.setpos):
            raise _unclear(N_("working days and other weekdays at once"))
        f.weekdays = list(WORKING_DAYS)
    ordinal = any(code[0] in "-0123456789" for code in f.weekdays)
    if len(freqs) > 1:
        # "hằng ngày từ ngày 1 đến 10 tháng 10 hằng năm": every day of those dates, every year
        # ("hằng ngày trong tháng 10 hằng năm": FREQ=DAILY;BYMONTH=10)
        if set(freqs) == {"DAILY", "YEARLY"} and f.months:
            freqs.pop("DAILY" if f.monthdays else "YEARLY")
        else:
            units = [{v: k for k, v in FREQS.items()}[name] for name in sorted(freqs)]
            message = N_("two different rhythms ({a} and {b}); say one")
            raise _Unclear(*(t(lang, message, a=_every_words(units[0], 1, lang), b=_every_words(units[1], 1, lang))
                             for lang in ("vi", "en")))
    freq, interval = next(iter(freqs.items())) if freqs else (None, 1)
    if freq is None and f.implied:
        freq = f.implied
    once = False
    if freq is None:
        if f.setpos or ordinal or (-1 in f.monthdays and not f.months):
            raise _unclear(N_("'first' or 'last' of what? Add 'của tháng' (of the month)"))
        if f.weekdays and not f.monthdays and not f.months:
            freq = "WEEKLY"
        elif f.monthdays and f.months and f.year:
            freq, once = "YEARLY", True
        elif f.monthdays and f.months:
            raise _unclear(N_("a date without 'every year' (hằng năm) or a year: say 'hằng năm' to repeat it, "
                           "or add the year for a single date"))
        elif f.monthdays:
            raise _unclear(N_("a day of the month without 'every month' (hằng tháng)"))
        elif f.months:
            raise _unclear(N_("a month without a day"))
        else:
            raise _unclear(N_("how often is missing (every day, every week, every month, every year)"))
    elif f.year:
        raise _unclear(N_("a year together with a repeating rhythm; for the first day use 'bắt đầu từ' + a date"))
    if f.setpos and freq not in ("MONTHLY", "YEARLY"):
        raise _unclear(N_("the first or last working day needs a month ('của tháng')"))
    if ordinal and freq not in ("MONTHLY", "YEARLY"):
        raise _unclear(N_("'the first/last weekday' needs a month ('của tháng')"))
    if freq == "DAILY" and len(f.weekdays) == 1:
        raise _unclear(N_("every day, or only on one weekday? Say one"))
    if freq == "MONTHLY" and not f.setpos and any(code in WEEKDAYS for code in f.weekdays):
        # FREQ=MONTHLY;BYDAY=MO is every Monday, not one Monday a month as people mean it
        raise _unclear(N_("which one of the month? Say 'the first Monday of the month' (thứ Hai đầu tiên "
                          "của tháng), or 'every week on Monday' (hằng tuần vào thứ Hai)"))
    if f.monthdays and freq in ("WEEKLY",):
        raise _unclear(N_("days of the month in a weekly rhythm"))
    if f.months and freq == "MONTHLY":
        raise _unclear(N_("a month named in a monthly rhythm"))
    if freq == "MONTHLY" and any(day > 28 for day in f.monthdays):
        # BYMONTHDAY=31 skips every month without a 31st: no reminder at all in those months
        raise _unclear(N_("day {day} is missing in some months, which would then get no reminder; for the "
                          "end of the month say 'ngày cuối cùng của tháng' (the last day of the month)"),
                       day=max(f.monthdays))
    if freq == "YEARLY" and (f.weekdays and not f.months):
        raise _unclear(N_("weekdays in a yearly rhythm need a month"))
    if freq == "YEARLY" and f.months and not (f.monthdays or f.weekdays):
        raise _unclear(N_("a month without a day"))
    if freq == "DAILY" and (f.monthdays or f.months) and "YEARLY" not in f.freqs:
        raise _unclear(N_("a date without 'every year' (hằng năm) or a year: say 'hằng năm' to repeat it, "
                       "or add the year for a single date"))
    # What the phrase leaves open comes from the first day, and is then written into the
    # rule, so that it is shown before anything is saved (never left implicit).
    if freq == "WEEKLY" and not f.weekdays:
        f.weekdays = [WEEKDAYS[begin.weekday()]]
    if freq == "MONTHLY" and not (f.monthdays or f.weekdays):
        f.monthdays = [begin.day]
    if freq == "YEARLY" and not (f.months or f.monthdays or f.weekdays):
        f.months, f.monthdays = [begin.month], [begin.day]
    parts: dict[str, object] = {"FREQ": freq}
    if interval > 1:
        parts["INTERVAL"] = interval
    if once:
        assert f.year is not None  # `once` is a date with its year
        begin = date(f.year, min(f.months), 1)
        parts["COUNT"] = len(set(f.monthdays)) * len(set(f.months))
    elif f.count:
        parts["COUNT"] = f.count
    if f.months:
        parts["BYMONTH"] = sorted(set(f.months))
    if f.monthdays:
        parts["BYMONTHDAY"] = sorted(set(f.monthdays), key=lambda d: (d < 0, d))
    if f.weekdays:
        parts["BYDAY"] = sorted(f.weekdays, key=lambda c: (WEEKDAYS.index(c[-2:]), c))
    if f.setpos:
        parts["BYSETPOS"] = [f.setpos]
    first = _first_day(parts, begin)
    if first is None:
        raise _unclear(N_("the rhythm never comes on or after {date}"), date=begin.isoformat())
    if f.until:
        if f.until < first:
            raise _unclear(N_("the end date {until} comes before the first day {first}"),
                           until=f.until.isoformat(), first=first.isoformat())
        parts["UNTIL"] = f.until  # rewritten by the writer in UTC for timed duties
    if once and parts["COUNT"] == 1:
        return None, first
    rule = icalendar.vRecur()
    for name in PART_ORDER:
        if name in parts:
            rule[name] = parts[name]
    return rule, first


def _rule_text(parts: dict[str, object]) -> str:
    rule = icalendar.vRecur()
    for name in PART_ORDER:
        if name in parts and name != "UNTIL":
            rule[name] = parts[name]
    return recur_text(rule)


def _first_day(parts: dict[str, object], begin: date) -> date | None:
    """The first matching day on or after `begin` (dateutil, never by hand).

    Without INTERVAL and COUNT: "every 2 weeks on Monday" from a Tuesday starts the next
    Monday (which then anchors the two-week steps), not the Monday after.
    """
    start = datetime.combine(begin, time(0, 0))
    plain = {name: value for name, value in parts.items() if name not in ("INTERVAL", "COUNT")}
    first = rrulestr(_rule_text(plain), dtstart=start).after(start, inc=True)
    return first.date() if first is not None else None


def first_occurrences(rhythm: Rhythm, count: int) -> list[date | datetime]:
    """The first `count` occurrences (naive local), for tests and quick checks."""
    if rhythm.rule is None:
        return [rhythm.dtstart()]
    start = rhythm.dtstart()
    start = start if isinstance(start, datetime) else datetime.combine(start, time(0, 0))
    parts = {k: v for k, v in rhythm.rule.items() if k != "UNTIL"}
    rule = rrulestr(recur_text(icalendar.vRecur(parts)), dtstart=start)
    until = rhythm.rule.get("UNTIL")
    found: list[date | datetime] = []
    for when in rule:
        if len(found) == count:
            break
        if until and when.date() > (until[0] if isinstance(until, list) else until):
            break
        found.append(when if rhythm.time is not None else when.date())
    return found


# --- back to words ----------------------------------------------------------------------

def _weekday_name(code: str, language: str) -> str:
    name: str = get_day_names("wide", locale=language)[WEEKDAYS.index(code)]  # babel's mapping is typed Any
    return name


def _ranges(days: list[int]) -> list[str]:
    """[1, 2, 3, 5] -> ['1–3', '5']."""
    out: list[str] = []
    run: list[int] = []
    for day in days:
        if run and day == run[-1] + 1:
            run.append(day)
            continue
        if run:
            out.append(f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
        run = [day]
    if run:
        out.append(f"{run[0]}–{run[-1]}" if len(run) > 2 else ", ".join(map(str, run)))
    return out


_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}
_RENDERED_PARTS = {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYMONTH", "BYMONTHDAY", "BYDAY", "BYSETPOS", "WKST"}


def describe(rule: icalendar.vRecur | None, dtstart: date | datetime, language: str) -> str:
    """A rule in words, in `language`; the raw RRULE when it holds parts not rendered here."""
    at = (t(language, "all day") if not isinstance(dtstart, datetime)
          else t(language, "at {time}", time=dtstart.strftime("%H:%M")))
    if rule is None:
        day = dtstart.date() if isinstance(dtstart, datetime) else dtstart
        return t(language, "once, on {date}", date=format_date(day, "full", locale=language)) + ", " + at
    if set(rule) - _RENDERED_PARTS:
        return "RRULE:" + recur_text(rule)
    freq = str(rule["FREQ"][0] if isinstance(rule["FREQ"], list) else rule["FREQ"])
    interval = int(_list(rule, "INTERVAL")[0]) if rule.get("INTERVAL") else 1
    unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}.get(freq)
    if unit is None:
        return "RRULE:" + recur_text(rule)
    words = [_every_words(unit, interval, language)]
    days = [str(d) for d in _list(rule, "BYDAY")]
    setpos = [int(p) for p in _list(rule, "BYSETPOS")]
    monthdays = [int(d) for d in _list(rule, "BYMONTHDAY")]
    months = [int(m) for m in _list(rule, "BYMONTH")]
    if setpos:
        if sorted(days, key=lambda c: WEEKDAYS.index(c)) == list(WORKING_DAYS) and setpos in ([1], [-1]):
            words.append(t(language, "on the first working day") if setpos == [1]
                         else t(language, "on the last working day"))
        else:
            return "RRULE:" + recur_text(rule)
    elif days:
        plain = [d for d in days if d in WEEKDAYS]
        ordinals = [d for d in days if d not in WEEKDAYS]
        if sorted(plain, key=WEEKDAYS.index) == list(WORKING_DAYS) and not ordinals:
            words.append(t(language, "on working days"))
        elif plain:
            words.append(t(language, "on {days}", days=format_list(
                [_weekday_name(d, language) for d in sorted(plain, key=WEEKDAYS.index)], locale=language)))
        for code in ordinals:
            number = int(code[:-2])
            if number not in _ORDINAL_WORDS:
                return "RRULE:" + recur_text(rule)
            words.append(t(language, "on the {ordinal} {day}", ordinal=_ordinal(number, language),
                           day=_weekday_name(code[-2:], language)))
    month_names = [get_month_names("wide", locale=language)[m] for m in sorted(months)]
    positive = sorted(d for d in monthdays if d > 0)
    if positive:
        text = format_list(_ranges(positive), locale=language)
        if month_names:
            words.append(t(language, "on {days} {month}", days=text, month=format_list(month_names,
                                                                                        locale=language)))
            month_names = []
        else:
            words.append(t(language, "on day {days}", days=text))
    if -1 in monthdays:
        words.append(t(language, "on the last day"))
    if any(d < -1 for d in monthdays):
        return "RRULE:" + recur_text(rule)
    if month_names:
        words.append(t(language, "in {months}", months=format_list(month_names, locale=language)))
    text = " ".join(words) + ", " + at
    if rule.get("COUNT"):
        text += ", " + t(language, "{count} times", count=int(_list(rule, "COUNT")[0]))
    if rule.get("UNTIL"):
        until = _list(rule, "UNTIL")[0]
        until = until.date() if isinstance(until, datetime) else until
        text += ", " + t(language, "until {date}", date=format_day(until, language))
    return text


def _list(rule: icalendar.vRecur, name: str) -> list[Any]:
    """A rule part's values (ints, weekday codes, a date); icalendar types them Any."""
    value = rule.get(name, [])
    return value if isinstance(value, list) else [value]


def _every_words(unit: str, interval: int, language: str) -> str:
    if interval == 1:
        return {"day": t(language, "every day"), "week": t(language, "every week"),
                "month": t(language, "every month"), "year": t(language, "every year")}[unit]
    return {"day": t(language, "every {n} days", n=interval), "week": t(language, "every {n} weeks", n=interval),
            "month": t(language, "every {n} months", n=interval),
            "year": t(language, "every {n} years", n=interval)}[unit]


def _ordinal(number: int, language: str) -> str:
    return {1: t(language, "first"), 2: t(language, "second"), 3: t(language, "third"),
            4: t(language, "fourth"), 5: t(language, "fifth"), -1: t(language, "last")}[number]


# --- reminder offsets ----------------------------------------------------------------------

@dataclass(frozen=True)
class Offset:
    """When a reminder comes, relative to an occurrence: `before` its start (or end), or
    `days_before` at a clock time (`at`), as said in words."""

    text: str
    before: timedelta = timedelta(0)
    related: str = "START"
    at: time | None = None
    days_before: int = 0

    def trigger(self, start: time | None) -> tuple[timedelta, str]:
        """The VALARM TRIGGER (duration, RELATED) for a duty starting at `start` (None: all-day).

        All-day duties have no start time: a clock time is needed for hours and minutes;
        whole days without one come at 07:00 like the default reminder, and "at the end"
        is 17:00 on the day rather than midnight.
        """
        if self.at is not None:
            clock = timedelta(hours=self.at.hour, minutes=self.at.minute)
            begin = timedelta(0) if start is None else timedelta(hours=start.hour, minutes=start.minute)
            return clock - begin - timedelta(days=self.days_before), "START"
        if start is None:
            if self.before % timedelta(days=1):
                raise RhythmError(self.text, "vi", understood=[self.text], offset=True,
                                  problem_vi=t("vi", "an all-day duty has no start time: say a clock time, "
                                                     "e.g. '1 ngày trước lúc 17:00' or 'lúc 7:00'"),
                                  problem_en=t("en", "an all-day duty has no start time: say a clock time, "
                                                     "e.g. '1 ngày trước lúc 17:00' or 'lúc 7:00'"))
            if self.related == "START":
                return timedelta(hours=7) - self.before, "START"
            if not self.before:
                return -timedelta(hours=7), "END"
        return -self.before, self.related


_OFFSET_UNITS = {"ngay": timedelta(days=1), "tuan": timedelta(weeks=1), "gio": timedelta(hours=1),
                 "tieng": timedelta(hours=1), "phut": timedelta(minutes=1),
                 "day": timedelta(days=1), "week": timedelta(weeks=1), "hour": timedelta(hours=1),
                 "hr": timedelta(hours=1), "minute": timedelta(minutes=1), "min": timedelta(minutes=1)}
_OFFSET_UNIT = r"(?P<u>ngay|tuan|gio|tieng|phut|days?|weeks?|hours?|hrs?|minutes?|mins?)"
_AMOUNT = rf"(?P<n>\d+)\s*{_OFFSET_UNIT}"
_EDGE = r"(?:(?:khi|luc)\s+)?(?P<edge>bat\s+dau|ket\s+thuc)|(?:at\s+)?(?:the\s+)?(?P<edge_en>start|beginning|end)"
_CLOCK_AT = rf"(?:\s+(?:luc|at|vao\s+luc|vao)\s+(?P<at>{TIME}))?"
_OFFSET_SOURCES = [
    rf"{_AMOUNT}\s+(?P<dir>truoc|before|sau|after)(?:\s+(?:khi\s+)?(?:{_EDGE}))?{_CLOCK_AT}",
    rf"(?P<dir>truoc|sau)\s+{_AMOUNT}(?:\s+(?:khi\s+)?(?:{_EDGE}))?{_CLOCK_AT}",
    rf"(?:{_EDGE})",
    rf"(?:luc|at|vao\s+luc|vao)\s+(?P<at>{TIME})(?:\s+(?P<same>cung\s+ngay|hom\s+do|that\s+day|on\s+the\s+day))?",
    rf"(?P<at>{TIME})",
]


@cache
def _offset_patterns() -> list[re.Pattern[str]]:
    return [re.compile(source) for source in _OFFSET_SOURCES]


def parse_offset(text: str) -> Offset:
    """'1 ngày trước', '2 hours before', 'lúc bắt đầu', '1 ngày trước lúc 17:00' -> Offset."""
    clean = " ".join(text.split())
    folded, _ = fold_with_index(clean)
    folded = " ".join(folded.split())
    language = "en" if re.search(r"\b(before|after|at|start|end|days?|hours?|minutes?|weeks?)\b", folded) \
        or (clean.isascii() and not re.search(r"\b(truoc|sau|luc|ngay|gio|phut|tuan)\b", folded)) else "vi"
    for pattern in _offset_patterns():
        match = pattern.fullmatch(folded)
        if not match:
            continue
        groups = match.groupdict()
        edge = (groups.get("edge") or groups.get("edge_en") or "").replace(" ", "")
        related = "END" if edge in ("ketthuc", "end") else "START"
        try:
            at = parse_time(groups["at"]) if groups.get("at") else None
        except ValueError:
            break
        if at is not None and related == "END":
            break  # a clock time is counted from the start's day; "before the end at 9:00" is not
        if groups.get("n"):
            unit = _OFFSET_UNITS[groups["u"].rstrip("s")]
            amount = int(groups["n"]) * unit
            if groups["dir"] in ("sau", "after"):
                amount = -amount
            if at is not None:
                if amount % timedelta(days=1):
                    break  # "2 giờ trước lúc 17:00" says two different times
                return Offset(clean, related=related, at=at, days_before=amount // timedelta(days=1))
            return Offset(clean, before=amount, related=related)
        return Offset(clean, related=related, at=at)
    raise RhythmError(clean, language, understood=[], leftover=[clean] if clean else [], offset=True)
