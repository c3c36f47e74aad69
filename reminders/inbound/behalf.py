"""`/done <code> <member> [answer]` from a leader or commune official: confirming for a
member who answered by phone or in person ("đã xác nhận qua điện thoại").

The code can be the team's reminder or the escalation the leader or official received;
the member is named by roster id or by name ("Cường", "Lê Văn Cường"), accents optional.
"""

from __future__ import annotations

from datetime import datetime

from reminders.definitions.roster import Person, Roster
from reminders.errors import AnswerError, NotOnRoster, UnknownDelivery
from reminders.i18n import t
from reminders.inbound.acks import confirm_on_behalf, find_delivery, refusal
from reminders.kinds import ESCALATIONS, kind_of
from reminders.runtime import Runtime
from reminders.text import fold

CONFIRMERS = ("leader", "official", "admin")


def _candidates(roster: Roster, by: Person, team_ids: set[str]) -> list[Person]:
    """Whom `by` may confirm for: their own team (a leader), their commune (an official)."""
    people: list[Person] = []
    for team in roster.teams.values():
        allowed = team.id == by.team_id if by.role == "leader" else (
            by.role == "admin" or team.commune_id == by.commune_id)
        if allowed and (not team_ids or team.id in team_ids or by.role != "leader"):
            people.extend(p for p in roster.members(team) if p.id != by.id)
    return people


def same_name(people: list[Person], text: str) -> list[Person]:
    """The people `text` could mean when it names several ("Cường" in a team of two Cường)."""
    words = text.split()
    for size in range(min(len(words), 5), 0, -1):
        key = fold(" ".join(words[:size]))
        found = [p for p in people if fold(p.name) == key or fold(p.name).split()[-1:] == [key]]
        if len(found) > 1:
            return found
    return []


def match_member(people: list[Person], text: str) -> tuple[Person | None, str]:
    """The member `text` starts with (id, full name or given name), and the rest of it."""
    words = text.split()
    for size in range(min(len(words), 5), 0, -1):  # the longest name first: "Lê Văn Cường" before "Lê"
        head, rest = " ".join(words[:size]), " ".join(words[size:])
        key = fold(head)
        found = [p for p in people if key in (p.id.lower(), fold(p.name))]
        if not found and size == 1:
            found = [p for p in people if fold(p.name).split()[-1:] == [key]]
        if len(found) == 1:
            return found[0], rest
    return None, text


def confirm_from_chat(rt: Runtime, by: Person, argument: str, channel: str, now: datetime) -> str | None:
    """The reply to `/done <code> <member> [answer]`, or None if this is not such a command
    (then the usual /done handling applies)."""
    if by.role not in CONFIRMERS:
        return None
    code, _, rest = argument.strip().partition(" ")
    if not code or not rest.strip():
        return None
    try:
        delivery, _ = find_delivery(rt.engine, code)
    except UnknownDelivery:
        return None
    team_ids = {delivery.team_id} if delivery.recipient.startswith("team:") else set()
    people = _candidates(rt.roster, by, team_ids)
    member, answer = match_member(people, rest)
    if member is None:
        # Not the leader's own answer then: that would record the leader, not the member meant.
        namesakes = same_name(people, rest)
        if namesakes:
            return t(by.language, "{count} people are called '{name}': {names}. Write the full name.",
                     count=len(namesakes), name=rest.strip(), names=", ".join(p.name for p in namesakes))
        if kind_of(delivery.kind) in ESCALATIONS:  # an escalation is about others, never one's own
            where = t(by.language, "your team") if by.role == "leader" else t(by.language, "your commune")
            return t(by.language, "Nobody called '{name}' in {where}.", name=rest.strip(), where=where)
        return None
    try:
        result = confirm_on_behalf(rt.engine, rt.roster, rt.duties, code=code, member_id=member.id, by=by.id,
                                   channel=channel, now=now, answer=answer or None)
    except AnswerError as exc:
        return str(exc)
    except (UnknownDelivery, NotOnRoster) as exc:
        return refusal(by.language, exc)
    return t(by.language, "Recorded: {member} has done \"{summary}\" (confirmed by {by}).",
             member=member.name, summary=result.summary, by=by.name)
