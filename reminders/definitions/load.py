"""Loading the roster and the duty files together, as every process and command does."""

from __future__ import annotations

from pathlib import Path

from reminders.definitions.duties import load_duties
from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster, load_roster
from reminders.errors import InvalidInput, Problem


def load_definitions(calendars: str | Path, roster_path: str | Path) -> tuple[dict[str, Duty], Roster]:
    """Roster and calendars together; raises InvalidInput with every problem of both.

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
        duties = load_duties(calendars, roster)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if problems or roster is None:
        raise InvalidInput(problems)
    return duties, roster
