"""Small roster edits from the web console: add a person to a team, change a team's leader.

Each edit is one or two spreadsheet rows handed to `teams import`'s merge (roster_import
.merge_rows): the same checks (ids, roles, phone numbers, chat ids, a team in another
commune or a person of another commune not taken over, every team keeping a leader), the
file rewritten with its comments kept, atomically, only after the result loads as a roster.
"""

from __future__ import annotations

import threading
from pathlib import Path

from reminders.definitions.roster import Roster
from reminders.definitions.roster_import import ImportReport, Row, merge_rows
from reminders.errors import InvalidInput, Problem
from reminders.i18n import t

_writing = threading.Lock()  # one read-modify-write of the roster file at a time in this process
FORM = "form"  # where problems are reported: the console's form, not a file line
MEMBER_FIELDS = ("person_id", "name", "role", "phone", "telegram", "zalo_bot")


def add_member(roster_path: str | Path, calendars: str | Path | None, roster: Roster, commune_id: str, team_id: str,
               fields: dict[str, str], language: str = "vi") -> ImportReport:
    """A new person in one of the commune's teams (role leader or member)."""
    team = roster.teams.get(team_id)
    if team is None or team.commune_id != commune_id:
        raise InvalidInput([Problem(FORM, None, t(language, "Not on the roster: {ids}.", ids=team_id))])
    person_id = fields.get("person_id", "").strip()
    if person_id in roster.people:
        raise InvalidInput([Problem(FORM, None, "person_id: " + t(
            language, "'{id}' is already someone in commune '{other}'; give this person another id",
            id=person_id, other=roster.people[person_id].commune_id or roster.teams[
                roster.people[person_id].team_id or ""].commune_id))])
    cells = {key: fields.get(key, "").strip() for key in MEMBER_FIELDS}
    if cells["role"] not in ("", "member", "leader"):  # an admin or official is made by the roster's owner only
        raise InvalidInput([Problem(FORM, None, "role: " + t(language, "a team's person is a leader or a member"))])
    cells.update(commune=commune_id, team=team_id)
    header = ["commune", "team", *[key for key in MEMBER_FIELDS if cells[key] or key in ("person_id", "name")]]
    return _merge(header, [Row(1, cells)], roster_path, calendars, language)


def change_leader(roster_path: str | Path, calendars: str | Path | None, roster: Roster, commune_id: str,
                  team_id: str, person_id: str, language: str = "vi") -> ImportReport:
    """Make `person_id` the team's leader; the leaders before become members."""
    team = roster.teams.get(team_id)
    if team is None or team.commune_id != commune_id:
        raise InvalidInput([Problem(FORM, None, t(language, "Not on the roster: {ids}.", ids=team_id))])
    if person_id not in team.member_ids:
        raise InvalidInput([Problem(FORM, None, t(language, "Not on the roster: {ids}.", ids=person_id))])
    rows = [Row(1, {"commune": commune_id, "team": team_id, "person_id": person_id,
                    "name": roster.people[person_id].name, "role": "leader"})]
    rows += [Row(n, {"commune": commune_id, "team": team_id, "person_id": leader.id, "name": leader.name,
                     "role": "member"})
             for n, leader in enumerate(roster.leaders(team), start=2) if leader.id != person_id]
    return _merge(["commune", "team", "person_id", "name", "role"], rows, roster_path, calendars, language)


def _merge(header: list[str], rows: list[Row], roster_path: str | Path, calendars: str | Path | None,
           language: str) -> ImportReport:
    with _writing:
        return merge_rows(header, rows, roster_path, where=FORM, calendars=calendars, language=language)
