"""`reminders audit`: what happened to a duty's occurrences, in time order."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import click

from reminders.cli.common import LANG, fail, friendly, out, settings_for
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import Roster
from reminders.i18n import N_, t
from reminders.logs import redact
from reminders.store.audit import list_events
from reminders.store.engine import make_engine
from reminders.store.models import OCCURRENCE
from reminders.views.audit_words import detail_words

EVENT_NAMES = {
    "sent": N_("Sent"), "failed": N_("Failed"), "retry": N_("Will retry"), "missed": N_("Missed"),
    "cancelled": N_("Cancelled"), "ack": N_("Confirmed"), "on-behalf": N_("Confirmed on their behalf"),
    "answer": N_("Answer changed"), "snooze": N_("Snoozed"), "followup-cancelled": N_("Follow-up not needed"),
    "held": N_("Held for quiet hours"),
}


def _name(roster: Roster, who: str | None) -> str:
    if not who:
        return ""
    kind, _, ident = who.partition(":")
    ident = ident or kind
    if kind == "team" and ident in roster.teams:
        return roster.teams[ident].name
    person = roster.people.get(ident)
    return person.name if person else who


@click.command()
@click.option("--duty", "duty_uid", default=None, help="Only this duty (its UID).")
@click.option("--date", "day", default=None, help="Only occurrences starting on this local day, e.g. 2024-10-01.")
@click.option("--occurrence", default=None,
              help="Only this occurrence of --duty: its recurrence id (e.g. 2024-10-01T00:30:00Z) or its day.")
@click.option("--team", "team_id", default=None, help="Only events of this team.")
@click.option("--limit", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--calendars", "calendars_dir", type=click.Path(), help="Directory of .ics duty files.")
@click.option("--roster", "roster_path", type=click.Path(), help="Roster file.")
@friendly
def audit(duty_uid: str | None, day: str | None, occurrence: str | None, team_id: str | None, limit: int,
          calendars_dir: str | None, roster_path: str | None) -> None:
    """Every delivery, retry, acknowledgement, confirmation on someone's behalf, snooze and
    escalation, with its time, who did it and whom it concerned."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    zone = ZoneInfo(roster.timezone)
    if duty_uid and duty_uid not in duties:
        fail(t(LANG, "Unknown duty '{uid}'. Known: {known}.", uid=duty_uid, known=", ".join(sorted(duties))))
    if team_id and team_id not in roster.teams:
        fail(t(LANG, "Unknown team '{team}'. Known: {known}.", team=team_id, known=", ".join(sorted(roster.teams))))
    if occurrence and not duty_uid:
        fail(t(LANG, "--occurrence needs --duty."))
    when = None
    if day:
        try:
            when = date.fromisoformat(day)
        except ValueError:
            fail(t(LANG, "{option} must be a date like 2024-10-01, not '{value}'.", option="--date", value=day))
    engine = make_engine(settings.database_url)
    occurrence_id = None
    if occurrence:
        try:
            when = date.fromisoformat(occurrence)
        except ValueError:
            with engine.connect() as conn:
                occurrence_id = conn.execute(select(OCCURRENCE.c.id).where(
                    OCCURRENCE.c.duty_uid == duty_uid, OCCURRENCE.c.recurrence_id == occurrence)).scalar()
            if occurrence_id is None:
                fail(t(LANG, "No occurrence '{rid}' of {uid} in the database.", rid=occurrence, uid=duty_uid))
    events = list_events(engine, duty_uid=duty_uid, day=when, occurrence_id=occurrence_id, team_id=team_id,
                         zone=zone, limit=limit + 1)
    engine.dispose()
    more = len(events) > limit
    events = events[1:] if more else events
    if not events:
        out.print(t(LANG, "No events recorded for this selection."), markup=False)
        return
    table = Table(title=t(LANG, "Audit trail"), show_lines=False)
    time_header = t(LANG, "Time ({zone})", zone=roster.timezone)  # every time below is in this zone
    for column in (time_header, t(LANG, "Event"), t(LANG, "Duty"), t(LANG, "Team"), t(LANG, "By"),
                   t(LANG, "For"), t(LANG, "Detail")):
        table.add_column(column, overflow="fold", no_wrap=column == time_header)
    for event in events:
        occurrence_text = ""
        if event.summary and event.occurrence_start is not None:
            occurrence_text = f"{event.summary} · {event.occurrence_start.astimezone(zone):%d/%m %H:%M}"
        name = t(LANG, EVENT_NAMES[event.event]) if event.event in EVENT_NAMES else event.event
        table.add_row(f"{event.at.astimezone(zone):%Y-%m-%d %H:%M:%S}", name, occurrence_text,
                      roster.teams[event.team_id].name if event.team_id in roster.teams else (event.team_id or ""),
                      _name(roster, event.actor) if event.actor != "system" else t(LANG, "system"),
                      _name(roster, event.recipient), detail_words(redact(event.detail or ""), LANG, zone))  # rows kept before redaction
    # Sized when the command runs (COLUMNS, the terminal), not when the module was imported.
    Console(highlight=False).print(table)
    if more:
        out.print(t(LANG, "Only the last {limit} events are shown; narrow with --duty, --date or --team, "
                          "or raise --limit.", limit=limit), markup=False)
