"""Duty definitions: the admin's iCalendar files turned into validated `Duty` objects.

The contract (README, "Duty format"): one VEVENT (or VTODO with DUE) per duty, a stable
UID, standard recurrence properties, each VALARM one reminder, and four X- properties:

    X-REMINDER-FOR      all | team:<id> | commune:<id>   (comma-separated; default all)
    X-REMINDER-TO       group | members | leader         (comma-separated; default group)
    X-REMINDER-ACK      TRUE | FALSE                     (default TRUE)
    X-REMINDER-CHECKIN;ANSWER=number|yesno|text[;LANGUAGE=en]:<question>
    X-REMINDER-FOLLOWUP:NUDGE=PT2H;TIMES=1;LEADER=PT4H;COMMUNE=P1D | NONE
    X-REMINDER-HOLIDAY:KEEP | SKIP | PREVIOUS | NEXT            (default KEEP)

and, inside a VALARM, X-REMINDER-KIND:CHECKIN to ask the check-in question at that alarm.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr  # type: ignore[import-untyped]  # no types-python-dateutil in the venv
from icalendar.parser import Contentline

from reminders.definitions.ics import ComponentLines, recur_text, scan, unfold
from reminders.definitions.model import (
    ADDRESS_MODES,
    ANSWER_TYPES,
    DUTY_COMPONENTS,
    Alarm,
    CheckIn,
    Duty,
    recurrence_id_text,
)
from reminders.definitions.policy import (
    DEFAULT_FOLLOWUP,
    NO_FOLLOWUP,
    parse_followup,
    parse_holiday,
)
from reminders.definitions.roster import Roster
from reminders.errors import InvalidInput, Problem, problem
from reminders.i18n import N_
from reminders.kinds import Kind
from reminders.timeutil import DEFAULT_TZ, to_utc

MAX_FILE_BYTES = 5 * 1024 * 1024
ALL_DAY_DEFAULT_TRIGGER = timedelta(hours=7)
TZ_PROPERTIES = ("DTSTART", "DTEND", "DUE", "EXDATE", "RDATE", "RECURRENCE-ID")
# Allowed numbers in RRULE parts (RFC 5545 3.3.10); dateutil silently yields nothing for
# most values outside them (BYMONTH=13 would be a duty that never comes).
RRULE_RANGES = {"BYSECOND": (0, 60), "BYMINUTE": (0, 59), "BYHOUR": (0, 23), "BYMONTH": (1, 12),
                "BYMONTHDAY": (-31, 31), "BYYEARDAY": (-366, 366), "BYWEEKNO": (-53, 53),
                "BYSETPOS": (-366, 366), "INTERVAL": (1, None), "COUNT": (1, None)}
MAX_OCCURRENCES_PER_YEAR = 366 * 24  # at most hourly; FREQ=SECONDLY would flood every team
# Properties a component may hold once (RFC 5545 3.6.1, 3.6.2, 3.6.6; RRULE because a duty
# has one rhythm; the X-REMINDER-* ones that hold one value). A second one is ambiguous:
# icalendar turns the pair into a list that nothing downstream expects.
_EVENT_ONCE = frozenset({
    "DTSTAMP", "UID", "DTSTART", "CLASS", "CREATED", "DESCRIPTION", "GEO", "LAST-MODIFIED", "LOCATION",
    "ORGANIZER", "PRIORITY", "SEQUENCE", "STATUS", "SUMMARY", "TRANSP", "URL", "RECURRENCE-ID", "RRULE",
    "DTEND", "DURATION", "X-REMINDER-FOR", "X-REMINDER-TO", "X-REMINDER-ACK", "X-REMINDER-FOLLOWUP",
    "X-REMINDER-HOLIDAY"})
SINGLE_VALUED = {
    "VEVENT": _EVENT_ONCE,
    "VTODO": (_EVENT_ONCE - {"DTEND", "TRANSP"}) | {"DUE", "COMPLETED", "PERCENT-COMPLETE"},
    "VALARM": frozenset({"ACTION", "TRIGGER", "DURATION", "REPEAT", "DESCRIPTION", "SUMMARY", "X-REMINDER-KIND"}),
}
CHECK_OCCURRENCES = 8  # per rule, expanded by `check` to find rules that fail (bounded work)


def _text(component: icalendar.Component, name: str, default: str = "") -> str:
    value = component.get(name)
    if value is None:
        return default
    if isinstance(value, list):
        value = value[0]
    return str(value).strip()


def _values(component: icalendar.Component, name: str) -> list[Any]:
    """The property objects (vRecur, vDDDTypes, vText, ...) of `name`; icalendar types them Any."""
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _FileReader:
    """Reads one .ics file, collecting problems with file:line."""

    def __init__(self, path: Path, known_zones: set[str], source: str | None = None):
        self.path = path
        self.file = str(path)
        self.problems: list[Problem] = []
        self.known_zones = known_zones
        self.source = source  # the text of an authored duty (from the database), not a file

    @property
    def authored(self) -> bool:
        return self.source is not None

    def fail(self, line: int | None, message: str, uid: str | None = None, **values: str) -> None:
        """A problem at `line`; with `values`, `message` is a catalog id (marked N_) filled
        from them, so that `check` says it in the admin's language."""
        if values:
            self.problems.append(problem(self.file, line, message, uid, **values))
        else:
            self.problems.append(Problem(self.file, line, message, uid))

    def fail_t(self, line: int | None, template: str, uid: str | None = None) -> None:
        """A problem whose fixed message is a catalog id (marked N_)."""
        self.problems.append(problem(self.file, line, template, uid))

    def read_text(self) -> str | None:
        if self.source is not None:
            text = self.source
            if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
                self.fail(1, "an iCalendar text must start with BEGIN:VCALENDAR")
                return None
            return text
        try:
            size = self.path.stat().st_size
            data = self.path.read_bytes() if 0 < size <= MAX_FILE_BYTES else b""
        except OSError as exc:
            self.fail(None, f"cannot read the file: {exc.strerror or exc}")
            return None
        if size == 0:
            self.fail_t(None, N_("file is empty; expected BEGIN:VCALENDAR ... END:VCALENDAR"))
            return None
        if size > MAX_FILE_BYTES:
            self.fail(None, f"file is {size / 1_048_576:.1f} MB; a calendar file may be at most "
                            f"{MAX_FILE_BYTES // 1_048_576} MB (split it, or remove old events)")
            return None
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.fail(None, "file is UTF-16 text; save the file as UTF-8")
            return None
        if b"\x00" in data:
            self.fail(None, "file holds binary data, not iCalendar text")
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.fail(line, f"not UTF-8 text (bad byte 0x{data[exc.start]:02x}); save the file as UTF-8")
            return None
        if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
            self.fail_t(1, N_("an iCalendar file must start with BEGIN:VCALENDAR"))
            return None
        return text

    def components(self) -> list[tuple[icalendar.Component, ComponentLines, str, bool]]:
        """(component, its lines, calendar default zone, whether the file names that zone) for
        each duty component in the file."""
        text = self.read_text()
        if text is None:
            return []
        calendars_lines, problems = scan(text, self.file)
        problems += _repeated(self.file, calendars_lines)
        if problems:
            self.problems.extend(problems)
            return []
        try:
            calendars = icalendar.Calendar.from_ical(text, multiple=True)
        except Exception as exc:  # icalendar raises ValueError and its own subclasses
            bad = _bad_values(text)
            for number, name, message in bad:
                self.fail(number, f"bad {name}: {message}")
            if str(exc) not in (message for _, _, message in bad):
                self.fail(self._line_mentioning(text, str(exc)), f"cannot parse: {exc}")
            return []
        found: list[tuple[icalendar.Component, ComponentLines, str, bool]] = []
        lines_iter = iter(calendars_lines)
        for cal in calendars:
            zone_name = _text(cal, "X-WR-TIMEZONE", DEFAULT_TZ)
            explicit = cal.get("X-WR-TIMEZONE") is not None
            if not _is_zone(zone_name):
                defined = {_text(vtz, "TZID") for vtz in cal.walk("VTIMEZONE")}
                if zone_name not in self.known_zones | defined:  # a typo, not a VTIMEZONE name
                    line = next((n for n, content in unfold(text)
                                 if content.upper().startswith(("X-WR-TIMEZONE:", "X-WR-TIMEZONE;"))), 1)
                    self.fail(line, f"unknown time zone X-WR-TIMEZONE:{zone_name} "
                                    "(use an IANA name such as Asia/Ho_Chi_Minh)")
                zone_name, explicit = DEFAULT_TZ, False
            for sub in cal.subcomponents:
                lines = next(lines_iter, ComponentLines(_name(sub), 1))
                for vtz in ([sub] if sub.name == "VTIMEZONE" else []):
                    self.known_zones.add(_text(vtz, "TZID"))
                if sub.name in DUTY_COMPONENTS:
                    found.append((sub, lines, zone_name, explicit))
        if not found and not self.problems:
            self.fail_t(1, N_("no VEVENT or VTODO in this file"))
        return found

    @staticmethod
    def _line_mentioning(text: str, message: str) -> int | None:
        for token in message.replace("'", " ").replace('"', " ").split():
            if len(token) >= 3 and ":" not in token:
                for number, line in enumerate(text.splitlines(), 1):
                    if token in line and not line.startswith(("BEGIN", "END")):
                        return number
        return None


def _repeated(file: str, top: list[ComponentLines]) -> list[Problem]:
    """A second DTSTART, TRIGGER, ... in a duty or one of its alarms, each at its line."""
    found = []
    for component in top:
        if component.name not in DUTY_COMPONENTS:
            continue
        for part in [component, *component.children]:
            once = SINGLE_VALUED.get(part.name, frozenset())
            for name, line in part.repeats:
                if name in once:
                    found.append(problem(file, line, N_("{name} appears more than once in {component} "
                                                        "(first on line {first}); keep only one"),
                                         component.uid or None, name=name, component=part.name,
                                         first=str(part.props[name])))
    return found


def _name(component: icalendar.Component) -> str:
    """The name of a parsed component (icalendar types it optional, for the abstract base class)."""
    assert component.name is not None
    return component.name


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _bad_values(text: str) -> list[tuple[int, str, str]]:
    """(line, property, error) for each content line whose value icalendar cannot read.

    icalendar keeps bad values of a VEVENT or VTODO in its `errors` (reported with their
    line by `_check_component`) but raises on the first one elsewhere, e.g. in a VALARM,
    without saying where: this finds the line(s) again.
    """
    types = icalendar.Calendar.types_factory
    found = []
    for number, line in unfold(text):
        name = line.partition(":")[0].partition(";")[0].upper()
        try:
            content = Contentline(line)  # type: ignore[no-untyped-call]  # icalendar leaves Contentline.__new__ unannotated
            name, params, value = content.parts()
            name = name.upper()
            if name in ("BEGIN", "END", "CATEGORIES", "FREEBUSY") or name.startswith("X-"):
                continue
            factory = types.for_property(name, params.value)
            getter = getattr(factory, "get_value_from_content_line", None)
            if value or name != "RDATE":
                # icalendar types for_property as returning `type`; it is a property class (vText, vRecur, ...)
                factory.from_ical(getter(content) if getter else value)  # type: ignore[attr-defined]
        except (ValueError, TypeError) as exc:
            found.append((number, name, str(exc)))
    return found


def _rrule_problem(rule: icalendar.vRecur) -> str | None:
    if rule.get("RSCALE"):
        return None  # told apart in _check_component, with its own (translated) advice
    if not rule.get("FREQ"):
        return "RRULE has no FREQ (e.g. RRULE:FREQ=WEEKLY)"
    for part, (low, high) in RRULE_RANGES.items():
        for value in rule.get(part, []):
            try:
                number = int(value)
            except (TypeError, ValueError):
                continue
            if number < low or (high is not None and number > high) or (number == 0 and low < 0):
                allowed = (f"at least {low}" if high is None else f"{low}..{high}" if low >= 0
                           else f"1..{high} or -{high}..-1")
                return f"RRULE {part}={value} is out of range ({part} must be {allowed})"
    return None


def _check_component(reader: _FileReader, comp: icalendar.Component, lines: ComponentLines) -> str | None:
    """Validate what every duty component needs; returns its UID (None if unusable)."""
    uid = _text(comp, "UID") or None
    if not uid:
        reader.fail(lines.line, N_("{component} has no UID; every duty needs a stable UID"), component=str(comp.name))
    for prop, message in getattr(comp, "errors", []):
        reader.fail(lines.line_of(prop), f"bad {prop}: {message}", uid)
    for rule in _values(comp, "RRULE"):
        scale = "".join(str(v) for v in rule.get("RSCALE", [])) if isinstance(rule, icalendar.vRecur) else ""
        if scale and scale.upper() != "GREGORIAN":
            reader.problems.append(problem(
                reader.file, lines.line_of("RRULE"),
                N_("RRULE RSCALE={scale}: lunar and other non-Gregorian rules are not supported. For a duty "
                   "that follows public holidays such as Tết use X-REMINDER-HOLIDAY; otherwise list its "
                   "dates with RDATE (e.g. RDATE;VALUE=DATE:20250129,20260217)"), uid, scale=scale.upper()))
            continue
        wrong = _rrule_problem(rule) if isinstance(rule, icalendar.vRecur) else None
        if wrong:
            reader.fail(lines.line_of("RRULE"), wrong, uid)
    for prop in TZ_PROPERTIES:
        for value in _values(comp, prop):
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid and tzid not in reader.known_zones:
                reader.fail(lines.line_of(prop), N_("unknown time zone TZID={tzid} in {prop} "
                                                    "(use an IANA name such as Asia/Ho_Chi_Minh)"), uid,
                            tzid=str(tzid), prop=prop)
    start_prop = "DTSTART" if comp.get("DTSTART") is not None else ("DUE" if comp.name == "VTODO" else None)
    if start_prop is None or comp.get(start_prop) is None:
        reader.fail(lines.line, N_("VTODO has no DTSTART or DUE") if comp.name == "VTODO"
                    else N_("{component} has no DTSTART"), uid, component=str(comp.name))
    return uid


def _alarms(reader: _FileReader, comp: icalendar.Component, lines: ComponentLines, uid: str,
            all_day: bool, has_checkin: bool) -> tuple[Alarm, ...]:
    alarms: list[Alarm] = []
    alarm_lines = [c for c in lines.children if c.name == "VALARM"]
    for index, alarm in enumerate(comp.walk("VALARM")):
        where = alarm_lines[index] if index < len(alarm_lines) else lines
        word = _text(alarm, "X-REMINDER-KIND", "REMINDER").lower()
        if word not in (Kind.REMINDER, Kind.CHECKIN):
            reader.fail(where.line_of("X-REMINDER-KIND"),
                        f"X-REMINDER-KIND must be REMINDER or CHECKIN, not {word.upper()}", uid)
            continue
        kind = Kind(word)
        if kind is Kind.CHECKIN and not has_checkin:
            reader.fail(where.line_of("X-REMINDER-KIND"),
                        "VALARM asks a check-in but the duty has no X-REMINDER-CHECKIN question", uid)
        trigger = alarm.get("TRIGGER")
        if trigger is None:
            reader.fail_t(where.line, N_("VALARM has no TRIGGER"), uid)
            continue
        value = trigger.dt
        if isinstance(value, timedelta):
            related = str(trigger.params.get("RELATED", "START")).upper()
            if related not in ("START", "END"):
                reader.fail(where.line_of("TRIGGER"), f"TRIGGER RELATED must be START or END, not {related}", uid)
                continue
            alarms.append(Alarm(index, kind, offset=value, related=related))
        elif isinstance(value, datetime):
            alarms.append(Alarm(index, kind, absolute=to_utc(value, ZoneInfo("UTC"))))
        else:
            reader.fail(where.line_of("TRIGGER"), "TRIGGER must be a duration or a UTC date-time", uid)
    if not alarms:
        # No VALARM: remind at the start (07:00 local for all-day duties, not midnight).
        alarms.append(Alarm(0, Kind.REMINDER, offset=ALL_DAY_DEFAULT_TRIGGER if all_day else timedelta(0)))
    if has_checkin and not any(a.kind is Kind.CHECKIN for a in alarms):
        alarms.append(Alarm(len(alarms), Kind.CHECKIN, offset=timedelta(0), related="END"))
    return tuple(alarms)


def _build_duty(reader: _FileReader, master: icalendar.Component, lines: ComponentLines,
                overrides: list[icalendar.Component], zone_name: str, *,
                explicit_zone: bool = False) -> Duty | None:
    uid = _text(master, "UID")
    summary = _text(master, "SUMMARY")
    if not summary:
        reader.fail_t(lines.line, N_("duty has no SUMMARY (the title people will see)"), uid)
    audience = tuple(v.strip().lower() for v in _text(master, "X-REMINDER-FOR", "all").split(",") if v.strip())
    for item in audience:
        if item != "all" and not item.startswith(("team:", "commune:")):
            reader.fail(lines.line_of("X-REMINDER-FOR"),
                        N_("X-REMINDER-FOR value '{item}' must be all, team:<id> or commune:<id>"), uid,
                        item=item)
    address = tuple(v.strip().lower() for v in _text(master, "X-REMINDER-TO", "group").split(",") if v.strip())
    for item in address:
        if item not in ADDRESS_MODES:
            reader.fail(lines.line_of("X-REMINDER-TO"),
                        N_("X-REMINDER-TO value '{item}' must be one of {modes}"), uid, item=item,
                        modes=", ".join(ADDRESS_MODES))
    ack_text = _text(master, "X-REMINDER-ACK", "TRUE").upper()
    if ack_text not in ("TRUE", "FALSE"):
        reader.fail(lines.line_of("X-REMINDER-ACK"), N_("X-REMINDER-ACK must be TRUE or FALSE, not {value}"), uid,
                    value=ack_text)
    followup = DEFAULT_FOLLOWUP if ack_text != "FALSE" else NO_FOLLOWUP
    if master.get("X-REMINDER-FOLLOWUP") is not None:
        try:
            followup = parse_followup(_text(master, "X-REMINDER-FOLLOWUP"))
        except ValueError as exc:
            reader.fail(lines.line_of("X-REMINDER-FOLLOWUP"), str(exc), uid)
        if ack_text == "FALSE" and followup.enabled:
            reader.fail(lines.line_of("X-REMINDER-FOLLOWUP"), "X-REMINDER-FOLLOWUP needs acknowledgements, "
                        "but this duty has X-REMINDER-ACK:FALSE (remove one of them)", uid)
    holiday = "KEEP"
    if master.get("X-REMINDER-HOLIDAY") is not None:
        try:
            holiday = parse_holiday(_text(master, "X-REMINDER-HOLIDAY"))
        except ValueError as exc:
            reader.fail(lines.line_of("X-REMINDER-HOLIDAY"), str(exc), uid)
    checkin = None
    questions: dict[str, str] = {}
    answer_type = "text"
    for prop in _values(master, "X-REMINDER-CHECKIN"):
        answer_type = str(prop.params.get("ANSWER", "text")).lower()
        if answer_type not in ANSWER_TYPES:
            reader.fail(lines.line_of("X-REMINDER-CHECKIN"),
                        f"X-REMINDER-CHECKIN ANSWER must be one of {', '.join(ANSWER_TYPES)}, not {answer_type}", uid)
        questions[str(prop.params.get("LANGUAGE", "")).lower()[:2]] = str(prop).strip()
    if questions:
        checkin = CheckIn(answer_type, questions)
    start = master.get("DTSTART") or master.get("DUE")
    all_day = start is not None and not isinstance(start.dt, datetime)
    alarms = _alarms(reader, master, lines, uid, all_day, checkin is not None)
    override_alarms = {}
    for override in overrides:
        rid = override.get("RECURRENCE-ID")
        if rid is not None and override.walk("VALARM"):
            override_alarms[recurrence_id_text(rid.dt, ZoneInfo(zone_name))] = _alarms(
                reader, override, ComponentLines(_name(override), lines.line), uid, all_day, checkin is not None)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//reminders//duty//")
    calendar.add("VERSION", "2.0")
    if explicit_zone:  # floating and UTC times recur in the file's zone, as its author meant
        calendar.add("X-WR-TIMEZONE", zone_name)
    for comp in [master, *overrides]:
        calendar.add_component(comp)
    fingerprint = hashlib.sha256(zone_name.encode() + b"".join(
        sorted(c.to_ical() for c in [master, *overrides]))).hexdigest()[:16]
    try:
        sequence = int(_text(master, "SEQUENCE", "0") or 0)
    except ValueError:
        reader.fail(lines.line_of("SEQUENCE"), "SEQUENCE must be a whole number", uid)
        sequence = 0
    categories: list[str] = []
    for cat in _values(master, "CATEGORIES"):
        categories.extend(str(c) for c in getattr(cat, "cats", [cat]))
    return Duty(uid=uid, summary=summary, description=_text(master, "DESCRIPTION"),
                categories=tuple(categories), component=_name(master), audience=audience or ("all",),
                address=address or ("group",), ack=ack_text != "FALSE", checkin=checkin, alarms=alarms,
                timezone=zone_name, file=reader.file, line=lines.line, sequence=sequence,
                calendar=calendar, fingerprint=fingerprint, all_day=all_day,
                override_alarms=override_alarms, followup=followup, holiday=holiday)


def _check_expansion(reader: _FileReader, duty: Duty, lines: ComponentLines) -> None:
    """Expand the first occurrences so bad rules fail now, not in the worker.

    A year from the start, but never more than CHECK_OCCURRENCES per rule: a year of an
    hourly duty is 8,784 occurrences, and expanding them took seconds per duty, at every
    `check`, `run` start and reload."""
    components = duty.calendar.walk(duty.component)
    master = components[0]
    if len(components) == 1 and master.get("RRULE") is None and master.get("RDATE") is None:
        return  # one event, no rule: its one occurrence is itself (50,000 of them took a minute)
    start = (master.get("DTSTART") or master.get("DUE")).dt
    first = start if isinstance(start, datetime) else datetime.combine(start, datetime.min.time())
    try:
        if _too_frequent(master, first):
            reader.fail(lines.line_of("RRULE"), f"RRULE repeats more than {MAX_OCCURRENCES_PER_YEAR} "
                                                "times a year; a duty may come at most once an hour", duty.uid)
            return
        recurring_ical_events.of(duty.calendar, components=DUTY_COMPONENTS).between(
            first - timedelta(days=1), _check_window_end(master, first))
    except Exception as exc:
        prop = "RRULE" if master.get("RRULE") else "DTSTART"
        reader.fail(lines.line_of(prop), f"cannot expand the recurrence: {exc}", duty.uid)


def _check_window_end(master: icalendar.Component, first: datetime) -> datetime:
    """A year after `first`, or sooner: where the rule reaching CHECK_OCCURRENCES first does
    (counted lazily with dateutil, which costs microseconds per occurrence)."""
    end = first + timedelta(days=366)
    naive = first.replace(tzinfo=None)
    for rule in _values(master, "RRULE"):
        text = recur_text(icalendar.vRecur({k: v for k, v in rule.items() if k != "UNTIL"}))
        upcoming = itertools.islice(rrulestr(text, dtstart=naive), CHECK_OCCURRENCES - 1, None)
        nth = next(upcoming, None)
        if nth is not None:
            end = min(end, first + (nth - naive) + timedelta(seconds=1))
    return end


def _too_frequent(master: icalendar.Component, first: datetime) -> bool:
    """Counted lazily with dateutil: expanding a year of FREQ=SECONDLY takes gigabytes."""
    first = first.replace(tzinfo=None)
    end = first + timedelta(days=366)
    for rule in _values(master, "RRULE"):
        if _at_most_hourly(rule):
            continue  # whatever else the rule says (and no need to count)
        # UNTIL only shortens a rule, and would need DTSTART's time zone to be read.
        text = recur_text(icalendar.vRecur({k: v for k, v in rule.items() if k != "UNTIL"}))
        within_a_year = itertools.takewhile(lambda when: when < end, rrulestr(text, dtstart=first))
        if sum(1 for _ in itertools.islice(within_a_year, MAX_OCCURRENCES_PER_YEAR + 1)) > MAX_OCCURRENCES_PER_YEAR:
            return True
    return False


def _at_most_hourly(rule: icalendar.vRecur) -> bool:
    """Whether the rule's own parts show it comes at most once an hour."""
    def count(part: str) -> int:
        return len(rule.get(part, [0]))
    freq = str(rule["FREQ"][0]).upper()
    if freq == "HOURLY":
        return count("BYMINUTE") * count("BYSECOND") <= 1
    if freq in ("MINUTELY", "SECONDLY"):
        return False
    return count("BYHOUR") * count("BYMINUTE") * count("BYSECOND") <= 24


def duty_files(directory: Path) -> list[Path]:
    """The .ics files under `directory`, leaving out hidden ones: an editor's lock file
    (`.#radio.ics`, a dangling symlink while Emacs edits), macOS's `._radio.ics`, a
    `.git` or `.trash` folder. Reading those would fail every reload while someone edits."""
    return sorted(path for path in directory.rglob("*.ics")
                  if not any(part.startswith(".") for part in path.relative_to(directory).parts))


AUTHORED_PREFIX = "authored:"  # the "file" of a duty kept in the database: authored:<uid>


def authored_name(uid: str) -> str:
    return f"{AUTHORED_PREFIX}{uid}"


def is_authored(duty: Duty) -> bool:
    """Written in chat or the console (kept in the database), not in a file of calendars/."""
    return duty.file.startswith(AUTHORED_PREFIX)


def load_duties(directory: str | Path, roster: Roster | None = None,
                authored: Sequence[tuple[str, str]] = ()) -> dict[str, Duty]:
    """Read every *.ics file under `directory`, and the `authored` duties ((uid, iCalendar
    text) kept in the database) with the very same checks; raises InvalidInput listing
    every problem. A UID both in a file and in the database is refused.

    With a roster, team and commune names in X-REMINDER-FOR are checked against it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput([Problem(str(directory), None, "calendar directory not found")])
    problems: list[Problem] = []
    known_zones = set(available_timezones())
    masters: dict[str, tuple[icalendar.Component, ComponentLines, tuple[str, bool], _FileReader]] = {}
    overrides: dict[str, list[tuple[icalendar.Component, ComponentLines, _FileReader]]] = defaultdict(list)
    readers = []
    files = duty_files(directory)
    if not files and not authored:
        problems.append(Problem(str(directory), None, "no .ics files found"))
    sources: list[tuple[Path, str | None]] = [(path, None) for path in files]
    sources += [(Path(authored_name(uid)), text) for uid, text in authored]
    for path, source in sources:
        reader = _FileReader(path, known_zones, source)
        readers.append(reader)
        for comp, lines, zone_name, explicit in reader.components():
            uid = _check_component(reader, comp, lines)
            if not uid:
                continue
            if comp.get("RECURRENCE-ID") is not None:
                overrides[uid].append((comp, lines, reader))
            elif uid in masters:
                other = masters[uid]
                if reader.authored != other[3].authored:
                    reader.fail(lines.line, f"UID {uid} is both in the file {other[3].file}:{other[1].line} "
                                            "and in the database (a duty written in chat or the console); "
                                            "a UID must be unique: rename or delete one of them", uid)
                else:
                    reader.fail(lines.line, N_("duplicate UID; already defined at {where}"), uid,
                            where=f"{other[3].file}:{other[1].line}")
            else:
                masters[uid] = (comp, lines, (zone_name, explicit), reader)
    for uid, items in overrides.items():
        if uid not in masters:
            for _, lines, reader in items:
                reader.fail_t(lines.line_of("RECURRENCE-ID"),
                              N_("RECURRENCE-ID override for a UID that has no main event"), uid)
    duties: dict[str, Duty] = {}
    # A duty from a file with problems may hold broken values: check the others further,
    # so one run still reports every problem.
    broken = [r for r in readers if r.problems]
    for uid, (comp, lines, (zone_name, explicit), reader) in masters.items():
        if any(r in broken for r in [reader, *(o[2] for o in overrides.get(uid, []))]):
            continue
        duty = _build_duty(reader, comp, lines, [o[0] for o in overrides.get(uid, [])], zone_name,
                           explicit_zone=explicit)
        if duty is not None:
            _check_expansion(reader, duty, lines)
            duties[uid] = duty
            if roster is not None:
                _check_audience(reader, duty, lines, roster)
    for reader in readers:
        problems.extend(reader.problems)
    if problems:
        raise InvalidInput(problems)
    return duties


def _check_audience(reader: _FileReader, duty: Duty, lines: ComponentLines, roster: Roster) -> None:
    for item in duty.audience:
        kind, _, ident = item.partition(":")
        known = roster.teams if kind == "team" else roster.communes if kind == "commune" else None
        if known is not None and ident not in known:
            reader.fail(lines.line_of("X-REMINDER-FOR"),
                        N_("unknown team '{ident}' (not in the roster {roster})") if kind == "team"
                        else N_("unknown commune '{ident}' (not in the roster {roster})"), duty.uid,
                        ident=ident, roster=str(roster.source))
