"""Where a message goes: a recipient ("team:<id>" or "person:<id>") resolved to one adapter
and chat, run-time bindings first, then the roster, in the order of REMINDERS_ADAPTERS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from reminders.adapters.base import Adapter, Address
from reminders.definitions.roster import Person, Team
from reminders.kinds import BindingStatus
from reminders.runtime import Runtime

Bindings = Mapping[str, tuple[str, str]]  # adapter -> (address, status)


@dataclass(frozen=True)
class Target:
    """A recipient resolved to one adapter and chat."""

    adapter: Adapter
    address: Address
    language: str
    zone: ZoneInfo
    team: Team
    person: Person | None


def first_address(adapters: Mapping[str, Adapter], chats: Mapping[str, str], bindings: Bindings | None, *,
                  group: bool) -> tuple[Adapter, str] | None:
    """The first enabled adapter with a working address. Run-time bindings come first (a
    leader's `/bind`, an invite redeemed: what the person or team chose, even when the roster
    names a chat on an adapter earlier in REMINDERS_ADAPTERS), then the roster's `chats`; a
    binding flagged broken (blocked, removed) skips that adapter; a group needs an adapter
    that can post to groups."""
    bindings = bindings or {}
    usable = {name: adapter for name, adapter in adapters.items() if not group or adapter.capabilities.groups}
    for name, adapter in usable.items():
        bound = bindings.get(name)
        if bound and bound[1] == BindingStatus.ACTIVE and bound[0]:
            return adapter, bound[0]
    for name, adapter in usable.items():
        if name in bindings:
            continue  # bound, but broken or avoided: not this adapter
        chat = adapter.address_in(chats, name)
        if chat:
            return adapter, chat
    return None


def resolve(rt: Runtime, recipient: str, team_id: str, bindings: Bindings | None = None) -> Target | None:
    """The first enabled adapter on which the recipient has a working address."""
    kind, _, ident = recipient.partition(":")
    team = rt.roster.teams.get(team_id)
    if team is None:
        return None
    person = None
    if kind == "team":
        chats, language, label = team.chats, team.language, team.name
    else:
        person = rt.roster.people.get(ident)
        if person is None:
            return None
        chats, language, label = person.chats, person.language, person.name
    found = first_address(rt.adapters, chats, bindings, group=kind == "team")
    if found is None:
        return None
    adapter, chat = found
    address = Address(chat=chat, is_group=kind == "team", label=label)
    return Target(adapter, address, language, ZoneInfo(team.timezone), team, person)
