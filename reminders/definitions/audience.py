"""Who a duty reaches in a team, and who must acknowledge it: one answer for the planner
(whom to send to), the tallies and reports (who is missing) and the follow-ups (whom to nudge)."""

from __future__ import annotations

from collections.abc import Collection

from reminders.definitions.model import Duty
from reminders.definitions.roster import Roster, Team


def has_group_chat(team: Team, bound: Collection[str] = ()) -> bool:
    """Whether the team has a group chat: one in the roster's `chats`, or one a leader bound
    at run time with `/bind` (`bound`: the ids of the teams with an active binding,
    reminders.store.bindings.bound_groups)."""
    return bool(team.chats) or team.id in bound


def recipients(duty: Duty, team: Team, roster: Roster, *, group_chat: bool | None = None,
               bound: Collection[str] = ()) -> list[str]:
    """Whom a duty addresses in one team, as recipient keys ("team:<id>", "person:<id>").

    A team without a group chat (`group_chat`, default: the roster names one, or a `/bind`
    among `bound`) gets its members one by one."""
    has_group = has_group_chat(team, bound) if group_chat is None else group_chat
    found: list[str] = []
    for mode in duty.address:
        if mode == "group" and has_group:
            found.append(team.recipient_key)
        elif mode == "leader":
            found.extend(f"person:{p.id}" for p in roster.leaders(team))
        else:  # members, or group with no group chat
            found.extend(f"person:{p.id}" for p in roster.members(team))
    return list(dict.fromkeys(found))


def expected_people(duty: Duty, team: Team, roster: Roster) -> tuple[str, ...]:
    """Who in `team` must acknowledge `duty`: everyone its recipients reach, in roster order."""
    reached = {p for r in recipients(duty, team, roster, group_chat=True) for p in people_reached(r, team)}
    return tuple(p for p in team.member_ids if p in reached)


def people_reached(recipient: str, team: Team) -> tuple[str, ...]:
    """The people one delivery reaches: the whole team through its group, else the person
    (if they are still on the team)."""
    kind, _, ident = recipient.partition(":")
    if kind == "team":
        return team.member_ids
    return (ident,) if ident in team.member_ids else ()
