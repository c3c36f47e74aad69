"""Loading the roster and the duty files together, as every process and command does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reminders.definitions.duties import load_duties
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster, load_roster
from reminders.errors import InvalidInput, Problem


def load_definitions(calendars: str | Path, roster_path: str | Path,
                     authored: Sequence[tuple[str, str]] = ()) -> tuple[dict[str, Duty], Roster]:
    """Roster, calendars and the `authored` duties ((uid, iCalendar text) from the
    database) together; raises InvalidInput with every problem of all of them.

    Duties are checked against the roster when it is valid; a broken roster does not hide
    the calendars' own problems.
    """
    problems: list[Problem] = []
    roster = None
    try:
        roster = load_roster(roster_path)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    duties: dict[str, Duty] = {}
    try:
        duties = load_duties(calendars, roster, authored)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if problems or roster is None:
        raise InvalidInput(problems)
    return duties, roster
