"""`reminders check`, `preview` and `simulate`: what the duty files say, before anything runs."""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from reminders.cli.common import (
    LANG,
    definitions_options,
    fail,
    friendly,
    out,
    parse_day,
    settings_for,
)
from reminders.definitions.load import load_definitions
from reminders.i18n import t
from reminders.jobs.simulate import simulate as run_simulation
from reminders.kinds import is_checkin
from reminders.timeutil import DEFAULT_TZ
from reminders.views.preview import preview_occurrences


@click.command()
@definitions_options
@friendly
def check(calendars_dir: str | None, roster_path: str | None) -> None:
    """Validate calendars and roster; list every problem as file:line."""
    settings = settings_for(calendars_dir, roster_path)
    duties, roster = load_definitions(settings.calendars, settings.roster)
    out.print(t(LANG, "OK: {duties} duties, {teams} teams, {people} people.",
                duties=len(duties), teams=len(roster.teams), people=len(roster.people)), markup=False)


@click.command()
@click.argument("uid")
@click.option("--from", "from_", required=True, help="First day, e.g. 2024-10-01.")
@click.option("--to", "to", required=True, help="Last day (inclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@definitions_options
@friendly
def preview(uid: str, from_: str, to: str, as_json: bool, calendars_dir: str | None,
            roster_path: str | None) -> None:
    """The occurrences and reminder times of one duty."""
    settings = settings_for(calendars_dir, roster_path)
    duties, _ = load_definitions(settings.calendars, settings.roster)
    if uid not in duties:
        fail(t(LANG, "No duty has UID {uid}.", uid=uid))
    items = preview_occurrences(duties[uid], parse_day(from_, "--from"), parse_day(to, "--to"))
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=duties[uid].summary)
    for column in (t(LANG, "Occurrence (RECURRENCE-ID)"), t(LANG, "Start"), t(LANG, "End"), t(LANG, "Reminders")):
        table.add_column(column)
    for item in items:
        status = " (" + t(LANG, "cancelled") + ")" if item["cancelled"] else ""
        table.add_row(item["recurrence_id"], item["start"] + status, item["end"],
                      "\n".join(f"{r['at']} {t(LANG, 'check-in') if is_checkin(str(r['kind'])) else t(LANG, 'reminder')}"
                                for r in item["reminders"]))
    out.print(table)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--from", "from_", required=True, help="First day, e.g. 2024-10-01.")
@click.option("--to", "to", required=True, help="Last day (inclusive).")
@definitions_options
@friendly
def simulate(from_: str, to: str, calendars_dir: str | None, roster_path: str | None) -> None:
    """Run the real pipeline on a virtual clock and print every message that would go out."""
    settings = settings_for(calendars_dir, roster_path)
    zone = ZoneInfo(DEFAULT_TZ)
    start = datetime.combine(parse_day(from_, "--from"), datetime.min.time(), tzinfo=zone)
    end = datetime.combine(parse_day(to, "--to") + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    # Stopped by SIGTERM or Ctrl-C: unwind, so the throw-away database is removed, and say so.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        count = run_simulation(settings, start, end, sys.stdout)
    except KeyboardInterrupt:
        fail(t(LANG, "Stopped; nothing was left behind."))
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.print(t(LANG, "{count} messages would be sent.", count=count), markup=False)
