"""`reminders ack` and `status`: acknowledging from the terminal, and who has acknowledged what."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from reminders.cli.common import LANG, MAX_DAYS, definitions_options, friendly, out, settings_for
from reminders.definitions.load import load_definitions
from reminders.i18n import format_when, t
from reminders.inbound.acks import record_acknowledgement
from reminders.inbound.acks import snooze as snooze_delivery
from reminders.store.engine import make_engine
from reminders.timeutil import utcnow
from reminders.views.status import occurrence_status


@click.command()
@click.option("--days", default=7, show_default=True, type=click.IntRange(0, MAX_DAYS),
              help="Days back and ahead to show.")
@definitions_options
@friendly
def status(days: int, calendars_dir: str | None, roster_path: str | None) -> None:
    """Occurrences around today and who has acknowledged them."""
    settings = settings_for(calendars_dir, roster_path)
    _, roster = load_definitions(settings.calendars, settings.roster)
    engine = make_engine(settings.database_url)
    now = utcnow()
    rows = occurrence_status(engine, roster, now - timedelta(days=days), now + timedelta(days=days))
    if not rows:
        out.print(t(LANG, "Nothing planned around today. Is `reminders run` running?"), markup=False)
        return
    zone = ZoneInfo(roster.timezone)
    table = Table(title=t(LANG, "Status"))
    for column in (t(LANG, "When"), t(LANG, "Duty"), t(LANG, "Team"), t(LANG, "Acknowledged"), t(LANG, "Codes")):
        table.add_column(column)
    for row in rows:
        table.add_row(format_when(row.start, LANG, zone, all_day=row.all_day), row.summary,
                      row.team_name, row.progress, " ".join(row.codes))
    out.print(table)


@click.command()
@click.argument("code")
@click.option("--member", "member", required=True, help="Roster id of the person acknowledging.")
@click.option("--answer", default=None, help="The check-in answer, if the reminder asked a question.")
@click.option("--snooze", is_flag=True, help="Remind me again in an hour instead.")
@click.option("--on-behalf-of", "on_behalf", default=None,
              help="Leader or admin confirming for another member: that member's id.")
@definitions_options
@friendly
def ack(code: str, member: str, answer: str | None, snooze: bool, on_behalf: str | None,
        calendars_dir: str | None, roster_path: str | None) -> None:
    """Acknowledge a reminder by its code (the console's '✅ Đã xong' button)."""
    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    engine = make_engine(settings.database_url)
    person = roster.people.get(on_behalf or member)
    language = person.language if person else LANG
    if snooze:
        due = snooze_delivery(engine, roster, code=code, person_id=member, now=utcnow())
        out.print(t(language, "OK, I will remind you again at {when}.",
                    when=format_when(due, language, ZoneInfo(roster.timezone))), markup=False)
        return
    result = record_acknowledgement(engine, roster, duties, code=code, person_id=on_behalf or member,
                                    channel="console", now=utcnow(), answer=answer,
                                    recorded_by=member if on_behalf else None)
    message = t(language, "Thank you, {name}: \"{summary}\" is recorded as done.",
                name=result.person.name, summary=result.summary)
    if result.answer is not None:
        shown = t(language, result.answer) if result.answer in ("yes", "no") else result.answer  # "có", not "yes"
        message += " " + t(language, "Answer: {answer}.", answer=shown)
    out.print(message, markup=False)
