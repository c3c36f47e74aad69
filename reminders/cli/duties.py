"""`reminders duties new | list | show`: admins define duties in plain words, not iCalendar.

`duties new` asks for what the flags leave out, shows the RRULE, the rule in words and
the next five occurrences with their reminder times, and writes the .ics file only
after a yes (or --yes). A rhythm or reminder time it cannot read fully is refused with
what it understood, the words it did not, and examples; nothing is written then.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from reminders.cli.common import LANG, definitions_options, err, fail, friendly, settings_for
from reminders.definitions import authored
from reminders.definitions.authored import read_authored
from reminders.definitions.duties import load_duties
from reminders.definitions.load import load_definitions
from reminders.definitions.model import ADDRESS_MODES, ANSWER_TYPES, Duty
from reminders.definitions.rhythm import (
    Offset,
    Rhythm,
    RhythmError,
    parse_offset,
    parse_rhythm,
)
from reminders.definitions.roster import Roster, load_roster
from reminders.definitions.writer import DutySpec, build_calendar, existing_uids, slug, write_new
from reminders.files import write_atomic
from reminders.i18n import format_when, t
from reminders.settings import Settings
from reminders.store.authored import list_rows
from reminders.store.engine import make_engine
from reminders.text import fold
from reminders.timeutil import DEFAULT_TZ, utcnow
from reminders.views.duty_words import (
    address_words,
    alarm_words,
    audience_words,
    next_occurrences,
    occurrence_lines,
    rhythm_words,
    rrule_text,
)

_ADDRESS_WORDS = {"nhom": "group", "thanh vien": "members", "to truong": "leader", "truong nhom": "leader"}
_ALL_WORDS = ("all", "tat ca", "*")


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _parse_start(value: str) -> date:
    text = value.strip()
    try:
        if "/" in text:
            day, month, year = (int(part) for part in text.split("/"))
            return date(year, month, day)
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(t(LANG, "expected a date like 2024-10-01 or 1/10/2024, got {value}",
                                   value=repr(value)), param_hint="--start") from None


@click.group()
def duties() -> None:
    """Duties: write a new one from plain words (no iCalendar by hand), list, show."""


@duties.command("new")
@click.option("--title", default=None, help="What people will see, e.g. 'Báo cáo tháng'.")
@click.option("--description", default=None, help="Details (the first 280 characters go in the message).")
@click.option("--rhythm", default=None, help="How often, in words: 'hằng tuần vào thứ Sáu lúc 17:00'.")
@click.option("--start", default=None, help="First day the duty may come (2024-10-01); default today.")
@click.option("--remind", "remind", multiple=True,
              help="When to remind, in words: '1 ngày trước', '2 giờ trước', 'lúc bắt đầu'; repeatable.")
@click.option("--for", "--teams", "audience", default=None,
              help="all (default), or team / commune ids, comma-separated.")
@click.option("--to", "address", default=None, help="group (default), members or leader; comma-separated.")
@click.option("--checkin", default=None, help="A question to ask about each occurrence, e.g. 'Bao nhiêu hộ?'.")
@click.option("--answer", type=click.Choice(ANSWER_TYPES), default=None,
              help="The expected answer to --checkin (default text).")
@click.option("--checkin-at", default=None, help="When to ask it, in words (default: at the end; 17:00 "
                                                 "for all-day duties).")
@click.option("--category", "categories", multiple=True, help="A category, e.g. 'báo cáo'; repeatable.")
@click.option("--no-ack", is_flag=True, help="Information only: do not ask for ✅.")
@click.option("--uid", default=None, help="UID (default: from the title, e.g. bao-cao-thang@reminders).")
@click.option("--file", "file", type=click.Path(dir_okay=False), default=None,
              help="The .ics file to write (default: <calendars>/<title>.ics); never overwritten.")
@click.option("--yes", is_flag=True, help="Write without asking for confirmation.")
@definitions_options
@friendly
def new(title: str | None, description: str | None, rhythm: str | None, start: str | None,
        remind: tuple[str, ...], audience: str | None, address: str | None, checkin: str | None,
        answer: str | None, checkin_at: str | None, categories: tuple[str, ...], no_ack: bool, uid: str | None,
        file: str | None, yes: bool, calendars_dir: str | None, roster_path: str | None) -> None:
    """Write a new duty from plain words, after showing its next five occurrences."""

    lang = LANG
    settings = settings_for(calendars_dir, roster_path)
    roster = load_roster(settings.roster)
    zone_name = roster.timezone or DEFAULT_TZ
    zone = ZoneInfo(zone_name)
    interactive = title is None or rhythm is None
    today = utcnow().astimezone(zone).date()
    first_day = _parse_start(start) if start else today

    title = (title if title is not None else click.prompt(t(lang, "Title"))).strip()
    if not title:
        fail(t(lang, "The title is empty; nothing was written."))
    parsed = None
    while parsed is None:
        phrase = rhythm if rhythm is not None else click.prompt(t(lang, "Rhythm (e.g. {example})",
                                                                  example="hằng tuần vào thứ Sáu lúc 17:00"))
        try:
            parsed = parse_rhythm(phrase, first_day, today=today)
        except RhythmError as exc:
            err.print(exc.explain(), markup=False)
            if rhythm is not None:
                err.print(t(lang, "Nothing was written."), markup=False)
                sys.exit(1)
    if description is None and interactive:
        description = click.prompt(t(lang, "Description (Enter to skip)"), default="", show_default=False)
    if not remind and interactive:
        answer_text = click.prompt(t(lang, "Remind when? Several separated by ';' (e.g. {example})",
                                     example="1 ngày trước; lúc bắt đầu"), default=t(lang, "at the start"))
        remind = tuple(part for part in answer_text.split(";") if part.strip())
    offsets = [_offset(text, parsed.time) for text in remind]
    if audience is None and interactive:
        audience = click.prompt(t(lang, "For whom? all, or team/commune ids separated by commas"), default="all")
    audience_ids = _audience(audience or "all", roster, lang)
    address_modes = _address(address or "group", lang)
    if checkin is None and interactive:
        checkin = click.prompt(t(lang, "Check-in question (Enter for none)"), default="", show_default=False)
    checkin = (checkin or "").strip() or None
    if checkin and answer is None and interactive:
        answer = click.prompt(t(lang, "Answer type"), type=click.Choice(ANSWER_TYPES), default="number")
    if answer and not checkin:
        fail(t(lang, "--answer needs a --checkin question; nothing was written."))
    when_checkin = _offset(checkin_at, parsed.time) if checkin and checkin_at else None

    calendars = Path(settings.calendars)
    uid = (uid or f"{slug(title)}@reminders").strip()
    taken = existing_uids(calendars)
    if uid in taken:
        fail(t(lang, "A duty with UID {uid} already exists ({where}); choose another --title or --uid. "
                     "Nothing was written.", uid=uid, where=taken[uid]))
    path = Path(file) if file else calendars / f"{slug(title)}.ics"
    if path.suffix.lower() != ".ics":
        fail(t(lang, "The file name must end in .ics: {path}", path=str(path)))
    if path.exists():
        fail(t(lang, "{path} already exists; nothing was written.", path=str(path)))

    spec = DutySpec(uid=uid, title=title, rhythm=parsed, description=(description or "").strip(),
                    reminders=tuple(offsets), audience=tuple(audience_ids), address=tuple(address_modes),
                    ack=not no_ack, checkin=checkin, answer=answer or "text", checkin_at=when_checkin,
                    categories=tuple(c.strip() for c in categories if c.strip()), timezone=zone_name)
    data = build_calendar(spec, utcnow(), lang).to_ical()
    # Read back exactly as the worker will, before anything is written where it looks.
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / path.name).write_bytes(data)
        duty = load_duties(scratch, roster)[uid]
    _print_new(duty, parsed, roster, lang, zone)
    if not yes and not click.confirm(t(lang, "Write {path}?", path=str(path)), default=True):
        fail(t(lang, "Nothing was written."))
    write_new(path, data, lang)
    out = _out()
    out.print(t(lang, "Wrote {path}.", path=str(path)), markup=False)
    if calendars.resolve() not in path.resolve().parents:
        out.print(t(lang, "Note: {path} is outside {calendars}; the worker reads only that directory.",
                    path=str(path), calendars=str(calendars)), markup=False)


def _offset(text: str, start_time: time | None) -> Offset:
    try:
        offset = parse_offset(text)
        offset.trigger(start_time)  # refuses hours before an all-day duty now, not later
        return offset
    except RhythmError as exc:
        err.print(exc.explain(), markup=False)
        err.print(t(LANG, "Nothing was written."), markup=False)
        sys.exit(1)


def _audience(text: str, roster: Roster, lang: str) -> list[str]:
    """'all', 'thon-dong, thon-tay', 'commune:xa-tan-lap' -> X-REMINDER-FOR values, checked."""
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items or any(fold(item) in _ALL_WORDS for item in items):
        return ["all"]
    found: list[str] = []
    unknown: list[str] = []
    for item in items:
        kind, _, ident = item.partition(":") if ":" in item else ("", "", item)
        if kind in ("", "team") and ident in roster.teams:
            found.append(f"team:{ident}")
        elif kind in ("", "commune") and ident in roster.communes:
            found.append(f"commune:{ident}")
        else:
            unknown.append(item)
    if unknown:
        known = ", ".join([*roster.communes, *roster.teams])
        fail(t(lang, "Not on the roster: {ids}. Known: {known}. Nothing was written.",
               ids=", ".join(unknown), known=known))
    return list(dict.fromkeys(found))


def _address(text: str, lang: str) -> list[str]:
    modes: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        mode = _ADDRESS_WORDS.get(fold(part), part.lower())
        if mode not in ADDRESS_MODES:
            fail(t(lang, "--to must be group, members or leader, not {value}; nothing was written.",
                   value=part))
        modes.append(mode)
    return list(dict.fromkeys(modes)) or ["group"]


def _print_new(duty: Duty, rhythm: Rhythm, roster: Roster, lang: str, zone: tzinfo) -> None:
    out = _out()
    rows = [(t(lang, "Duty"), duty.summary), ("UID", duty.uid),
            (t(lang, "Rhythm"), rhythm.describe(lang)), ("RRULE", rhythm.rrule or "—"),
            (t(lang, "For whom"), audience_words(duty, roster, lang)), (t(lang, "To"), address_words(duty, lang))]
    rows += [(t(lang, "Reminder times"), "; ".join(alarm_words(a, duty, lang) for a in duty.alarms))]
    if duty.checkin:
        rows.append((t(lang, "Check-in question"), f"{duty.checkin.question(lang)} ({duty.checkin.answer_type})"))
    for label, value in rows:
        out.print(f"{label}: {value}", markup=False)
    first = datetime.combine(rhythm.first, datetime.min.time(), tzinfo=zone)
    out.print(t(lang, "Next five occurrences:"), markup=False)
    for line in occurrence_lines(duty, first, lang, zone):
        out.print(line, markup=False)


@duties.command("list")
@definitions_options
@friendly
def list_duties(calendars_dir: str | None, roster_path: str | None) -> None:
    """Every duty: UID, title, rhythm in words, for whom, next occurrence."""

    lang = LANG
    settings = settings_for(calendars_dir, roster_path)
    found, roster = _with_authored(settings)
    zone = ZoneInfo(roster.timezone or DEFAULT_TZ)
    now = utcnow()
    table = Table(title=t(lang, "Duties"))
    table.add_column("UID", no_wrap=True)
    for column in (t(lang, "Duty"), t(lang, "Rhythm"), t(lang, "For whom"), t(lang, "Next")):
        table.add_column(column, overflow="fold")
    for duty in sorted(found.values(), key=lambda d: d.uid):
        upcoming = next_occurrences(duty, now, 1)
        table.add_row(duty.uid, duty.summary, rhythm_words(duty, lang), audience_words(duty, roster, lang),
                      format_when(upcoming[0].start, lang, zone, all_day=upcoming[0].all_day) if upcoming else "—")
    # A terminal wraps cells to its width; a pipe or file gets one line per duty (for grep).
    screen = Console(highlight=False)
    (screen if screen.is_terminal else Console(highlight=False, width=400)).print(table)


@duties.command("show")
@click.argument("uid")
@definitions_options
@friendly
def show(uid: str, calendars_dir: str | None, roster_path: str | None) -> None:
    """One duty in full, with its next five occurrences and reminder times."""

    lang = LANG
    settings = settings_for(calendars_dir, roster_path)
    found, roster = _with_authored(settings)
    if uid not in found:
        fail(t(lang, "No duty has UID {uid}.", uid=uid))
    duty = found[uid]
    zone = ZoneInfo(roster.timezone or DEFAULT_TZ)
    rows = [(t(lang, "Duty"), duty.summary), ("UID", duty.uid), (t(lang, "File"), f"{duty.file}:{duty.line}"),
            (t(lang, "Rhythm"), rhythm_words(duty, lang)), ("RRULE", rrule_text(duty)),
            (t(lang, "For whom"), audience_words(duty, roster, lang)), (t(lang, "To"), address_words(duty, lang)),
            (t(lang, "Acknowledgement"), t(lang, "yes") if duty.ack else t(lang, "no")),
            (t(lang, "Reminder times"), "; ".join(alarm_words(a, duty, lang) for a in duty.alarms))]
    if duty.checkin:
        rows.append((t(lang, "Check-in question"), f"{duty.checkin.question(lang)} ({duty.checkin.answer_type})"))
    if duty.categories:
        rows.append((t(lang, "Categories"), ", ".join(duty.categories)))
    if duty.description:
        rows.append((t(lang, "Description"), duty.description))
    out = _out()
    for label, value in rows:
        out.print(f"{label}: {value}", markup=False)
    out.print(t(lang, "Next five occurrences:"), markup=False)
    for line in occurrence_lines(duty, utcnow(), lang, zone):
        out.print(line, markup=False)


def _with_authored(settings: Settings) -> tuple[dict[str, Duty], Roster]:
    """The files and the duties written in chat or the console (not paused), as the worker
    loads them. Reading only: the database is neither created nor migrated for it."""
    engine = make_engine(settings.database_url, create=False)
    try:
        _, sources = read_authored(engine)
    finally:
        engine.dispose()
    return load_definitions(settings.calendars, settings.roster, sources)


@duties.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@definitions_options
@friendly
def export(directory: str, calendars_dir: str | None, roster_path: str | None) -> None:
    """Write the duties written in chat or the console as .ics files (one per duty)."""

    lang = LANG
    settings = settings_for(calendars_dir, roster_path)
    engine = make_engine(settings.database_url)
    try:
        rows = list_rows(engine)
    finally:
        engine.dispose()
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for row in rows:
        write_atomic(target / f"{slug(row.uid.split('@')[0])}.ics", row.ics_text.encode("utf-8"))
    _out().print(t(lang, "Wrote {count} duties to {path}.", count=len(rows), path=str(target)), markup=False)


@duties.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--commune", default=None, help="The commune it belongs to (default: the roster's only one).")
@definitions_options
@friendly
def import_duty(file: str, commune: str | None, calendars_dir: str | None, roster_path: str | None) -> None:
    """Load one .ics file (one duty) as a duty written in the console: kept in the database."""

    lang = LANG
    settings = settings_for(calendars_dir, roster_path)
    roster = load_roster(settings.roster)
    if commune is None:
        if len(roster.communes) != 1:
            fail(t(lang, "Say which commune it belongs to: --commune {ids}.", ids="|".join(roster.communes)))
        commune = next(iter(roster.communes))
    if commune not in roster.communes:
        fail(t(lang, "Not on the roster: {ids}. Known: {known}. Nothing was written.", ids=commune,
               known=", ".join(roster.communes)))
    try:
        text = Path(file).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(t(lang, "{path}: not UTF-8 text; nothing was written.", path=file))
    engine = make_engine(settings.database_url)
    try:
        row = authored.create(engine, settings.calendars, roster, text, commune, "cli", utcnow(), action="import")
    except authored.UidTaken as exc:
        fail(t(lang, "A duty with UID {uid} already exists ({where}); choose another --title or --uid. "
                     "Nothing was written.", uid=exc.uid, where="database"))
    finally:
        engine.dispose()
    _out().print(t(lang, "Imported {uid}.", uid=row.uid), markup=False)
