"""`reminders teams ...`: teams and their people, from the spreadsheet the commune keeps."""

from __future__ import annotations

import click

from reminders.cli.common import LANG, friendly, out, settings_for
from reminders.definitions.roster_import import import_roster
from reminders.i18n import t


@click.group()
def teams() -> None:
    """Teams and their people: import them from a spreadsheet (CSV)."""


@teams.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True,
              help="The file is the whole roster: people, teams and communes not in it are removed, "
                   "and an empty cell clears that field. Default: merge by person_id.")
@click.option("--dry-run", is_flag=True, help="Check everything and report, but write nothing.")
@click.option("--roster", "roster_path", type=click.Path(),
              help="Roster file (default: $REMINDERS_ROSTER or calendars/roster.yaml).")
@click.option("--calendars", "calendars_dir", type=click.Path(),
              help="Directory of .ics duty files, checked against the new roster (default: $REMINDERS_CALENDARS).")
@friendly
def import_csv(csv_file: str, replace: bool, dry_run: bool, roster_path: str | None,
               calendars_dir: str | None) -> None:
    """Check a CSV of people (Excel's "CSV UTF-8") and merge it into the roster.

    Every bad row is listed with its line and column; if any row is bad, nothing is written."""
    from pathlib import Path

    settings = settings_for(calendars_dir, roster_path)
    calendars = settings.calendars if Path(settings.calendars).is_dir() else None
    report = import_roster(csv_file, settings.roster, replace=replace, calendars=calendars, dry_run=dry_run,
                           language=LANG)
    roster = report.roster
    assert roster is not None  # import_roster always sets it (or raises)
    lang = LANG
    lines = [t(lang, "{added} people added, {updated} updated, {removed} removed; {teams} new teams, "
                     "{communes} new communes.", added=len(report.added), updated=len(report.updated),
               removed=len(report.removed), teams=len(report.new_teams), communes=len(report.new_communes)),
             t(lang, "The roster has {teams} teams and {people} people.", teams=len(roster.teams),
               people=len(roster.people))]
    if report.removed:
        lines.append(t(lang, "Removed: {ids}.", ids=", ".join(report.removed)))
    lines.append(t(lang, "Checked only; nothing was written (--dry-run).") if dry_run
                 else t(lang, "Wrote {path}.", path=settings.roster))
    out.print("\n".join(lines), markup=False, soft_wrap=True)
