"""`reminders report`: the commune's table of who did what, as terminal tables and files."""

from __future__ import annotations

import importlib.util
import re
from datetime import date, datetime, time, timedelta
from typing import overload
from zoneinfo import ZoneInfo

import click

from reminders.cli.common import LANG, fail, friendly, out, settings_for, within_years
from reminders.definitions.load import load_definitions
from reminders.i18n import LANGUAGES, t
from reminders.store.engine import make_engine
from reminders.timeutil import utcnow
from reminders.views.report import build_report, charts_available, print_report, write_files

MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def _month(value: str, lang: str) -> tuple[date, date]:
    match = MONTH.match(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        fail(t(lang, "--month must look like 2024-10 (year-month), not '{value}'.", value=value))
    year, month = int(match.group(1)), int(match.group(2))
    first = within_years(date(year, month, 1), "--month")
    return first, date(year + month // 12, month % 12 + 1, 1)


def _day(value: str, option: str, lang: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        fail(t(lang, "{option} must be a date like 2024-10-01, not '{value}'.", option=option, value=value))
    return within_years(day, option)


@overload
def period(month: str | None, from_: str | None, to: str | None, today: date,
           lang: str) -> tuple[date, date, str]: ...


@overload
def period(month: str | None, from_: str | None, to: str | None, today: None,
           lang: str) -> tuple[date, date, str] | None: ...


def period(month: str | None, from_: str | None, to: str | None, today: date | None,
           lang: str) -> tuple[date, date, str] | None:
    """First day, day after the last, and a label for file names; a clear exit on bad input.
    None when no period was given and `today` is not known yet (it is the roster's today)."""
    if month and (from_ or to):
        fail(t(lang, "Give either --month or --from/--to, not both."))
    if month:
        first, after = _month(month, lang)
        return first, after, first.strftime("%Y-%m")
    if from_ or to:
        if not (from_ and to):
            fail(t(lang, "--from and --to go together: give both days."))
        first, last = _day(from_, "--from", lang), _day(to, "--to", lang)
        if first > last:
            fail(t(lang, "--from ({first}) is after --to ({last}).", first=first, last=last))
        return first, last + timedelta(days=1), f"{first.isoformat()}_{last.isoformat()}"
    if today is None:
        return None
    first, after = _month(today.strftime("%Y-%m"), lang)
    return first, after, first.strftime("%Y-%m")


def _period_text(first: date, after: date, lang: str) -> str:
    last = after - timedelta(days=1)
    if first.day == 1 and after.day == 1 and (after - first).days <= 31:
        return t(lang, "month {month}", month=first.strftime("%m/%Y"))
    return f"{first.strftime('%d/%m/%Y')}–{last.strftime('%d/%m/%Y')}"


def _require_writers(lang: str) -> None:
    """openpyxl is a dependency, but a trimmed install may lack it (matplotlib is the optional
    `charts` extra: without it the report is written without its PNG, and says so)."""
    if importlib.util.find_spec("openpyxl") is None:
        fail(t(lang, "Writing the report files needs {package}: pip install {package}", package="openpyxl"))


@click.command()
@click.option("--month", default=None, help="A calendar month, e.g. 2024-10 (default: this month).")
@click.option("--from", "from_", default=None, help="First day, e.g. 2024-10-01 (with --to).")
@click.option("--to", "to", default=None, help="Last day, inclusive (with --from).")
@click.option("--commune", default=None, help="Only this commune's teams (roster id).")
@click.option("--team", default=None, help="Only this team (roster id).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Directory for the CSV, XLSX and PNG files (default: reports/ in $REMINDERS_DATA_DIR, "
                   "or ~/.local/share/reminders).")
@click.option("--lang", "language", default=None, type=click.Choice(LANGUAGES),
              help="Language of headings (default: $REMINDERS_LANGUAGE or vi).")
@click.option("--calendars", "calendars_dir", type=click.Path(),
              help="Directory of .ics duty files (default: $REMINDERS_CALENDARS or calendars).")
@click.option("--roster", "roster_path", type=click.Path(),
              help="Roster file (default: $REMINDERS_ROSTER or calendars/roster.yaml).")
@friendly
def report(month: str | None, from_: str | None, to: str | None, commune: str | None, team: str | None,
           out_dir: str | None, language: str | None, calendars_dir: str | None, roster_path: str | None) -> None:
    """Completion per team and check-in totals: tables, CSV, XLSX and a PNG chart."""
    from rich.console import Console

    lang = language or LANG
    period(month, from_, to, None, lang)  # bad dates fail before anything is read
    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    if commune is not None and commune not in roster.communes:
        fail(t(lang, "No commune '{id}' on the roster; known: {known}.", id=commune,
                known=", ".join(roster.communes)))
    if team is not None and team not in roster.teams:
        fail(t(lang, "No team '{id}' on the roster; known: {known}.", id=team, known=", ".join(roster.teams)))
    if team is not None and commune is not None and roster.teams[team].commune_id != commune:
        fail(t(lang, "Team '{team}' is not in commune '{commune}'.", team=team, commune=commune))
    _require_writers(lang)
    if team is not None:
        zone, scope_name = ZoneInfo(roster.teams[team].timezone), roster.teams[team].name
    elif commune is not None:
        zone, scope_name = ZoneInfo(roster.communes[commune].timezone), roster.communes[commune].name
    else:
        zone, scope_name = ZoneInfo(roster.timezone), t(lang, "all teams")
    first, after, label = period(month, from_, to, datetime.now(zone).date(), lang)
    scope_id = team or commune
    if scope_id:
        label += "-" + re.sub(r"[^\w.-]+", "-", scope_id)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(after, time(0), tzinfo=zone)
    now = utcnow()
    engine = make_engine(settings.database_url)
    try:
        built = build_report(engine, roster, duties, start=start, end=end, label=label,
                             title=t(lang, "Report, {period}: {scope}", period=_period_text(first, after, lang),
                                     scope=scope_name),
                             commune=commune, team=team, language=lang, now=now)
    finally:
        engine.dispose()
    print_report(built, Console(highlight=False, width=max(out.width, 120)))
    if end > now:
        out.print(t(lang, "Occurrences that have not started yet are not counted."), markup=False)
    directory = out_dir if out_dir is not None else str(settings.data_directory / "reports")
    written = write_files(built, directory)
    if not charts_available():
        out.print(t(lang, "No PNG chart: it needs matplotlib (pip install 'reminders[charts]')."), markup=False)
    out.print(t(lang, "Wrote {count} files to {directory}:", count=len(written), directory=directory), markup=False)
    for path in written:
        out.print(f"  {path}", markup=False, soft_wrap=True)
