"""The definitions a process is using right now: swapped as a whole by hot reload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster
from reminders.definitions.snapshot import Started


@dataclass
class Definitions:
    """Duties and roster in use, and how the process started (from the files, or from the
    last good version saved in the database). Readers take `duties` and `roster` once per
    piece of work; a reload replaces both together, so a reader never sees one new and the
    other old."""

    duties: Mapping[str, Duty]
    roster: Roster
    started: Started | None = None

    def swap(self, duties: Mapping[str, Duty], roster: Roster) -> None:
        self.duties, self.roster = duties, roster
