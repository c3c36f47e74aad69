"""`/done <code> <member> [answer]` from a leader or commune official: confirming for a
member who answered by phone or in person ("đã xác nhận qua điện thoại").

The code can be the team's reminder or the escalation the leader or official received;
the member is named by roster id or by name ("Cường", "Lê Văn Cường"), accents optional.
A leader confirms only for their own team, an official or admin only within their commune,
and only with a code that was sent to them or their team: anything else is refused with
the reason, never taken for the sender's own answer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from reminders.adapters.base import Outcome
from reminders.definitions.roster import Person, Roster
from reminders.errors import AnswerError, NotOnRoster, UnknownDelivery
from reminders.i18n import t
from reminders.inbound.acks import (
    CONFIRMERS,
    TYPED,
    NotSentHere,
    OutsideAuthority,
    check_seen,
    confirm_on_behalf,
    find_delivery,
    may_confirm_for,
    refusal,
)
from reminders.kinds import ESCALATIONS, kind_of
from reminders.runtime import Runtime
from reminders.text import fold, shown


def _candidates(roster: Roster, by: Person, team_ids: set[str]) -> list[Person]:
    """Whom `by` may confirm for: their own team (a leader), their commune (an official or
    admin); only the teams of `team_ids` when the code is a team's reminder."""
    people: list[Person] = []
    for team in roster.teams.values():
        if may_confirm_for(roster, by, team.id) and (not team_ids or team.id in team_ids or by.role != "leader"):
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


def _named(roster: Roster, by: Person, text: str) -> Person | None:
    """Whom `text` names on the whole roster (anyone but `by`), if anyone: "/done 20 Cường"
    is a confirmation for Cường whatever team he is in, never the sender's own answer."""
    others = [p for p in roster.people.values() if p.id != by.id]
    named, _ = match_member(others, text)
    return named or next(iter(same_name(others, text)), None)


def confirm_from_chat(rt: Runtime, conn: Connection, by: Person, argument: str, channel: str,
                      now: datetime) -> Outcome | None:
    """The answer to `/done <code> <member> [answer]`, or None if this is not such a command
    (then the usual /done handling applies). Recorded in `conn`'s transaction."""
    code, _, rest = argument.strip().partition(" ")
    rest = rest.strip()
    if not code or not rest:
        return None
    lang = by.language
    named = _named(rt.roster, by, rest)
    if by.role not in CONFIRMERS:
        if named is None:
            return None
        return Outcome(reply=t(lang, "Only a team leader or a commune official can confirm for someone else."))
    try:
        delivery, _ = find_delivery(conn, code)
        check_seen(rt.roster, delivery, by, channel, TYPED)
    except UnknownDelivery as exc:
        if named is None:
            return None  # "/done 25 hộ": the sender's own answer; "25" was no code of theirs
        if isinstance(exc, NotSentHere):
            return Outcome(reply=t(lang, "The code {code} is not one of the reminders sent to you or your team.",
                                   code=code.upper()))
        return Outcome(reply=t(lang, "No reminder has the code {code}.", code=code.upper()))
    team_ids = {delivery.team_id} if delivery.recipient.startswith("team:") else set()
    people = _candidates(rt.roster, by, team_ids)
    member, answer = match_member(people, rest)
    if member is None:
        # Never the sender's own answer then: that would record them, not the member meant.
        namesakes = same_name(people, rest)
        if namesakes:
            return Outcome(reply=t(lang, "{count} people are called '{name}': {names}. Write the full name.",
                                   count=len(namesakes), name=rest, names=", ".join(shown(p.name) for p in namesakes)))
        if named is not None:
            where = "team" if by.role == "leader" else "commune"
            return Outcome(reply=refusal(lang, OutsideAuthority(by, named, where)))
        if kind_of(delivery.kind) in ESCALATIONS:  # an escalation is about others, never one's own
            where = t(lang, "your team") if by.role == "leader" else t(lang, "your commune")
            return Outcome(reply=t(lang, "Nobody called '{name}' in {where}.", name=rest, where=where))
        return None
    try:
        result = confirm_on_behalf(conn, rt.roster, rt.duties, code=code, member_id=member.id, by=by.id,
                                   channel=channel, now=now, answer=answer or None, seen=TYPED)
    except AnswerError as exc:
        return Outcome(reply=str(exc))
    except (UnknownDelivery, NotOnRoster) as exc:
        return Outcome(reply=refusal(lang, exc))
    return Outcome(reply=t(lang, "Recorded: {member} has done \"{summary}\" (confirmed by {by}).",
                           member=shown(member.name), summary=result.summary, by=shown(by.name)), recorded=True)
